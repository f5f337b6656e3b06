"""Where benchmarks write their figures: ``bench/results/<name>.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_result(name: str, data: Any) -> Path:
    """Write ``data`` as ``bench/results/<name>.json`` and say so."""
    out = Path(__file__).parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(data, indent=1))
    print(f"wrote {out}")
    return out
