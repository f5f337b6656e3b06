"""How the ``flocloud`` command reports: exit codes, the ``-o`` switch, tables and times.

Invariants owned here:
- Exit codes are distinct per kind of failure and documented (docs/reference.md):
  0 ok, 1 unexpected, 2 usage, 3 invalid input, 4 not found, 5 conflict, 6 refused,
  7 unavailable (a node, the explorer or the devnet), 8 chain, 130 interrupted.
- Every command that prints data takes ``-o table|json|ndjson``; the default is a table on a
  terminal and JSON (lists: one object a line) otherwise; a command that prints one value
  (``send``: the id) prints it plain unless JSON is asked for. JSON keeps machine values (epoch
  milliseconds, full IDs) and adds readable ones (``time_iso``); tables show readable
  times and shortened IDs so that they fit 80 columns.
- Notices (failover, warnings) go to stderr, never to stdout, so ``-o json`` stays parseable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import orjson

from flocloud.protocol.errors import (
    ChainError,
    Duplicate,
    ExplorerError,
    FlocloudError,
    NotFound,
    ProtocolViolation,
    RequestRejected,
    Unavailable,
    VersionConflict,
)

__all__ = [
    "EXIT_CODES",
    "Output",
    "exit_code",
    "iso_time",
    "notice",
    "output_option",
    "short_id",
]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES = {
    "ok": 0,
    "unexpected": 1,
    "usage": 2,
    "invalid": 3,
    "not-found": 4,
    "conflict": 5,
    "refused": 6,
    "unavailable": 7,
    "chain": 8,
    "interrupted": 130,
}


def exit_code(exc: FlocloudError) -> int:
    """The documented exit code of a flocloud error."""
    kinds: list[tuple[type[FlocloudError], str]] = [
        (ProtocolViolation, "invalid"),
        (NotFound, "not-found"),
        (VersionConflict, "conflict"),
        (Duplicate, "conflict"),
        (Unavailable, "unavailable"),
        (ExplorerError, "unavailable"),
        (RequestRejected, "refused"),
        (ChainError, "chain"),
    ]
    for cls, kind in kinds:
        if isinstance(exc, cls):
            return EXIT_CODES[kind]
    return EXIT_CODES["unexpected"]


def notice(text: str) -> None:
    """A line for the person at the terminal (stderr)."""
    click.echo(text, err=True)


def iso_time(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC (``2026-12-01T11:51:04.123Z``)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def table_time(ms: int | None, now_ms: int | None = None) -> str:
    """Short local time: ``11:51:04`` today, ``12-01 11:51`` otherwise."""
    if ms is None:
        return ""
    t = datetime.fromtimestamp(ms / 1000).astimezone()
    now = (
        datetime.fromtimestamp(now_ms / 1000).astimezone()
        if now_ms
        else datetime.now().astimezone()
    )
    return t.strftime("%H:%M:%S") if t.date() == now.date() else t.strftime("%m-%d %H:%M")


def short_id(flo_id: str, keep: int = 10) -> str:
    """``oZdUBH…b3cd``: enough to tell IDs apart in a table."""
    return flo_id if len(flo_id) <= keep + 1 else f"{flo_id[: keep - 4]}…{flo_id[-4:]}"


def output_option(fn: F) -> F:
    """``-o/--output table|json|ndjson`` (and the older ``--json``, meaning ndjson/json)."""
    fn = click.option(
        "--json",
        "as_json",
        is_flag=True,
        hidden=True,
        help="Same as -o ndjson for lists, -o json otherwise.",
    )(fn)
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(["table", "json", "ndjson"]),
        default=None,
        help="Output format (default: table on a terminal, JSON otherwise).",
    )(fn)


class Output:
    """Prints one result in the chosen format."""

    def __init__(self, fmt: str | None, as_json: bool = False, kind: str = "doc") -> None:
        """``kind``: ``list`` (off a terminal: ndjson), ``doc`` (json) or ``value`` (one
        value such as an id: plain text unless JSON is asked for)."""
        if fmt is None and as_json:
            fmt = "ndjson" if kind == "list" else "json"
        if fmt is None:
            if kind == "value" or sys.stdout.isatty():
                fmt = "table"
            else:
                fmt = "ndjson" if kind == "list" else "json"
        self.fmt = fmt

    @property
    def table(self) -> bool:
        return self.fmt == "table"

    def doc(self, doc: Any, text: str | None = None) -> None:
        """One object: JSON, or ``text`` (default: key/value lines) for a table."""
        if self.table:
            if text is None:
                text = "\n".join(f"{k:<14} {_cell(v)}" for k, v in doc.items())
            click.echo(text)
        else:
            click.echo(orjson.dumps(doc).decode())

    def rows(
        self,
        docs: Sequence[dict[str, Any]],
        columns: Iterable[tuple[str, Callable[[dict[str, Any]], str]]],
        *,
        title: str | None = None,
        wide: str | None = None,
    ) -> None:
        """A list: ``json`` is one array, ``ndjson`` one object a line, ``table`` the
        ``columns`` (header, cell); ``wide`` names the one column that takes what is left of
        the terminal width and is cut with an ellipsis."""
        if self.fmt == "json":
            click.echo(orjson.dumps(list(docs)).decode())
            return
        if self.fmt == "ndjson":
            for d in docs:
                click.echo(orjson.dumps(d).decode())
            return
        from rich.console import Console
        from rich.table import Table

        cols = list(columns)
        cells = [[cell(d) for _, cell in cols] for d in docs]
        console = Console(soft_wrap=False)
        widths = [max([len(h), *(len(row[n]) for row in cells)]) for n, (h, _) in enumerate(cols)]
        if wide is not None:  # only the wide column gives way, cut with an ellipsis
            w = [h for h, _ in cols].index(wide)
            room = console.width - sum(widths) + widths[w] - 2 * (len(cols) - 1)
            widths[w] = max(len(wide), min(widths[w], room))
            for row in cells:
                if len(row[w]) > widths[w]:
                    row[w] = row[w][: widths[w] - 1] + "…"
        table = Table(title=title, box=None, pad_edge=False, header_style="bold")
        for (header, _), width in zip(cols, widths, strict=True):
            table.add_column(header, no_wrap=True, min_width=width)
        for row in cells:
            table.add_row(*row)
        console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
