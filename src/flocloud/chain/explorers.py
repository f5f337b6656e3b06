"""Explorer readers by name: the one place that knows every reader class.

Invariant: ``reader.py`` holds what all readers share and imports none of them; the
readers import it; this module imports the readers, so nothing imports in a circle.
"""

from __future__ import annotations

from typing import Any

from flocloud.protocol.errors import ExplorerError

from .blockbook import BlockbookV1Reader, BlockbookV2Reader
from .flosight import FlosightReader

__all__ = ["EXPLORER_KINDS", "make_reader"]

EXPLORER_KINDS = {
    "blockbook": BlockbookV1Reader,
    "blockbook-v1": BlockbookV1Reader,
    "blockbook-v2": BlockbookV2Reader,
    "flosight": FlosightReader,
}


def make_reader(kind: str, base_url: str, **kw: Any) -> Any:
    """``blockbook`` (v1, default), ``blockbook-v2`` or ``flosight``."""
    try:
        cls = EXPLORER_KINDS[kind]
    except KeyError:
        raise ExplorerError(
            f"unknown explorer kind {kind!r}: {', '.join(EXPLORER_KINDS)}"
        ) from None
    return cls(base_url, **kw)
