"""CLI commands over the SDK: send, fetch, watch, where, object, delete, export, import.

Invariants: these commands are thin; everything they do goes through ``flocloud.Client``.
The key comes from ``--wif``/``--key-file`` or the default key file and is never printed;
commands that read public data need none. A partial answer is never silent: a reply cut
by ``--limit`` or served by a stand-in says so on stderr (and in ``-o json``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

import click
import orjson

from flocloud.client import Client, Message, Page
from flocloud.protocol.envelope import parse_envelope
from flocloud.protocol.errors import BadFormat, Duplicate, FlocloudError

from .output import Output, iso_time, notice, output_option, short_id, table_time
from .session import client_options, run_with_client


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        text = sys.stdin.read()
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadFormat(f"{what} is not valid JSON") from None


def _message_dict(msg: Message) -> dict[str, Any]:
    d = asdict(msg)
    d["tags"] = list(msg.tags)
    d["time_iso"] = iso_time(msg.time)
    return d


MESSAGE_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("time", lambda d: table_time(d["time"])),
    ("from", lambda d: short_id(d["sender"])),
    ("app", lambda d: d["application"][:10]),
    ("type", lambda d: d["type"][:12]),
    ("id", lambda d: d["id"][:8]),
    (
        "payload",
        lambda d: (
            "[encrypted]"
            if d["encrypted"] and not d["decrypted"]
            else orjson.dumps(d["payload"]).decode()
        ),
    ),
]


def _print_messages(messages: list[Message], out: Output) -> None:
    out.rows([_message_dict(m) for m in messages], MESSAGE_COLUMNS, wide="payload")


def _warn_partial(page: Page, receiver: str, limit: int) -> None:
    if page.stand_in:
        notice(
            f"warning: answered by stand-in {page.served_by}: every replica of {receiver} is "
            "down, so this may be incomplete (`flocloud where` shows them)"
        )
    if page.more:
        notice(
            f"warning: more than {limit} messages: fetch again with --after {page.cursor} "
            "(or a larger --limit)"
        )


@click.command()
@click.argument("receiver")
@click.argument("data", required=False)
@click.option("--app", default="", help="Application name.")
@click.option("--type", "type_", default="message", show_default=True)
@click.option("--comment")
@click.option("--encrypt", is_flag=True, help="Encrypt to the receiver's public key.")
@click.option("--text", is_flag=True, help="Send DATA as a string instead of parsing JSON.")
@click.option(
    "--min-replicas",
    type=click.IntRange(min=1),
    help="Fail unless the write is committed on at least this many supernodes.",
)
@output_option
@client_options
@run_with_client()
async def send(
    client: Client,
    receiver: str,
    data: str | None,
    app: str,
    type_: str,
    comment: str | None,
    encrypt: bool,
    text: bool,
    min_replicas: int | None,
    output: str | None,
    as_json: bool,
) -> None:
    """Send DATA (JSON; stdin when omitted) to RECEIVER. Prints the message id (with
    -o json: the id, the node's cursor and on how many supernodes it is stored)."""
    value: Any = (
        (data if data is not None else sys.stdin.read()) if text else _json_arg(data, "DATA")
    )
    ack = await client.send_ack(
        receiver,
        value,
        app=app,
        type=type_,
        comment=comment,
        encrypt=encrypt,
        min_replicas=min_replicas,
    )
    out = Output(output, as_json, kind="value")
    if out.table:
        click.echo(ack["id"])
    else:
        out.doc(ack)


@click.command()
@click.argument("receiver", required=False)
@click.option("--after", "after", metavar="CURSOR", help="Cursor printed by the previous fetch.")
@click.option("--app")
@click.option("--type", "type_")
@click.option("--sender")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--newest-first", is_flag=True)
@output_option
@client_options
@run_with_client(needs_key=False)
async def fetch(
    client: Client,
    receiver: str | None,
    after: str | None,
    app: str | None,
    type_: str | None,
    sender: str | None,
    limit: int,
    newest_first: bool,
    output: str | None,
    as_json: bool,
) -> None:
    """Fetch messages for RECEIVER (default: you; reading needs no key). The next cursor
    goes to stderr (with -o json: {"messages", "cursor", "more", "served_by", "stand_in"};
    with -o ndjson: one message a line)."""
    if receiver is None:
        _need_own_key(client)
    page = await client.fetch_page(
        receiver,
        after=after,
        app=app,
        type=type_,
        sender=sender,
        limit=limit,
        newest_first=newest_first,
    )
    out = Output(output, as_json, kind="list")
    if out.fmt == "json":
        out.doc(
            {
                "messages": [_message_dict(m) for m in page.messages],
                "cursor": _cursor_text(page.cursor),
                "more": page.more,
                "served_by": page.served_by,
                "stand_in": page.stand_in,
            }
        )
    else:
        _print_messages(page.messages, out)
    _warn_partial(page, receiver or client.id, limit)
    click.echo(f"next cursor: {_cursor_text(page.cursor)}", err=True)


def _cursor_text(cursor: Any) -> str | None:
    return None if cursor is None else str(cursor)


def _need_own_key(client: Client) -> None:
    if client.ephemeral_key:
        raise BadFormat(
            "whose messages? pass a RECEIVER, or create your key with "
            "`flocloud id new --save` (or pass --key-file/--wif)"
        )


@click.command()
@click.argument("receiver", required=False)
@click.option("--app")
@click.option("--type", "type_")
@click.option("--after", metavar="CURSOR", help="Resume after this cursor.")
@output_option
@client_options
@run_with_client(needs_key=False)
async def watch(
    client: Client,
    receiver: str | None,
    app: str | None,
    type_: str | None,
    after: str | None,
    output: str | None,
    as_json: bool,
) -> None:
    """Print stored, then live messages for RECEIVER until Ctrl-C (a table line each on a
    terminal, else JSON lines). Reconnects by itself and says when it is disconnected."""
    if receiver is None:
        _need_own_key(client)
    out = Output(output, as_json, kind="list")
    if out.fmt == "json":
        out = Output("ndjson")
    async for msg in client.subscribe(receiver, app=app, type=type_, after=after):
        d = _message_dict(msg)
        if out.table:
            cells = [cell(d) for _, cell in MESSAGE_COLUMNS]
            click.echo("  ".join(cells)[:200])
        else:
            click.echo(orjson.dumps(d).decode())


@click.command()
@click.argument("flo_id", metavar="ID")
@output_option
@client_options
@run_with_client(needs_key=False)
async def where(client: Client, flo_id: str, output: str | None, as_json: bool) -> None:
    """Which supernodes hold ID: its home, the other replicas, the stand-ins, up or down."""
    print_where(Output(output, as_json, kind="list"), flo_id, await client.where(flo_id))


def print_where(out: Output, flo_id: str, rows: list[dict[str, Any]]) -> None:
    out.rows(
        rows,
        [
            ("role", lambda d: d["role"]),
            ("supernode", lambda d: d["id"]),
            ("state", lambda d: ("up" if d["up"] else "DOWN") + (" *" if d["serving"] else "")),
            ("uri", lambda d: d["uri"]),
        ],
        title=f"{flo_id}  (* = serving now)",
        wide="uri",
    )


@click.group()
def object() -> None:
    """Application objects: get, reset, patch, append, remove, changes, history."""


F = TypeVar("F", bound=Callable[..., Any])


def _expected_option(fn: F) -> F:
    return click.option(
        "--expected-version",
        help="Compare-and-set (strict objects): only if the object is still at this version.",
    )(fn)


def _show_write(version: str) -> None:
    click.echo(version)


@object.command("get")
@click.argument("app")
@click.argument("name")
@click.option("--version", help="A version the object had (default: now).")
@click.option("--consistent", is_flag=True, help="Strict objects: a linearizable read.")
@client_options
@run_with_client(needs_key=False)
async def object_get(
    client: Client, app: str, name: str, version: str | None, consistent: bool
) -> None:
    """Print the object as JSON: version, heads, mode and value."""
    state = await client.get(app, name, version, consistent=consistent)
    doc = {"version": state.version, "heads": list(state.heads), "mode": state.mode}
    click.echo(orjson.dumps({**doc, "value": state.value}).decode())


@object.command("reset")
@click.argument("app")
@click.argument("name")
@click.argument("value", required=False)
@_expected_option
@client_options
@run_with_client()
async def object_reset(
    client: Client, app: str, name: str, value: str | None, expected_version: str | None
) -> None:
    """Replace the object with VALUE (JSON; stdin when omitted). Prints the new version."""
    _show_write(
        await client.reset(app, name, _json_arg(value, "VALUE"), expected_version=expected_version)
    )


@object.command("patch")
@click.argument("app")
@click.argument("name")
@click.argument("patch", required=False)
@_expected_option
@client_options
@run_with_client()
async def object_patch(
    client: Client, app: str, name: str, patch: str | None, expected_version: str | None
) -> None:
    """Apply a JSON merge patch (RFC 7386). Prints the new version."""
    _show_write(
        await client.patch(app, name, _json_arg(patch, "PATCH"), expected_version=expected_version)
    )


def _list_command(op: str, doc: str) -> None:
    @object.command(op, help=doc)
    @click.argument("app")
    @click.argument("name")
    @click.argument("item", required=False)
    @click.option("--path", default="", help="Keys to the array, dot-separated (default: root).")
    @_expected_option
    @client_options
    @run_with_client()
    async def cmd(
        client: Client,
        app: str,
        name: str,
        item: str | None,
        path: str,
        expected_version: str | None,
    ) -> None:
        keys = [k for k in path.split(".") if k]
        _show_write(
            await client.append(
                app,
                name,
                _json_arg(item, "ITEM"),
                path=keys,
                op=op,
                expected_version=expected_version,
            )
        )


_list_command("append", "Append ITEM (JSON) to the array at --path; concurrent appends all stay.")
_list_command("prepend", "Put ITEM (JSON) first in the array at --path.")
_list_command("remove", "Remove every element equal to ITEM (JSON) from the array at --path.")


@object.command("changes")
@click.argument("app")
@click.argument("name")
@click.option("--since", "since_version", default="0", show_default=True)
@click.option("--diff", is_flag=True, help="One change from --since to now.")
@client_options
@run_with_client(needs_key=False)
async def object_changes(
    client: Client, app: str, name: str, since_version: str, diff: bool
) -> None:
    """Print what changed since a version, as JSON (writes with who wrote them, or a diff)."""
    result = await client.changes(app, name, since_version, mode="diff" if diff else "patches")
    click.echo(orjson.dumps(asdict(result)).decode())


@object.command("history")
@click.argument("app")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@client_options
@run_with_client()
async def object_history(client: Client, app: str, name: str, as_json: bool) -> None:
    """Every write of the object in order: version after it, who wrote it, what it did."""
    for c in await client.history(app, name):
        if as_json:
            click.echo(orjson.dumps(asdict(c)).decode())
        else:
            what = orjson.dumps(c.change).decode()
            click.echo(f"{c.version}  {c.sender}  {c.time}  {c.kind} {what[:80]}")


@click.command()
@click.argument("message_id")
@click.option("--receiver", help="Receiver of the message (default: you).")
@client_options
@run_with_client()
async def delete(client: Client, message_id: str, receiver: str | None) -> None:
    """Delete a message (as its receiver or an app admin). Prints the tombstone id."""
    click.echo(await client.delete(message_id, receiver=receiver))


@click.command("export")
@click.argument("receiver", required=False)
@click.option(
    "--file", "-f", "output", type=click.File("w"), default="-", help="Where to write (stdout)."
)
@click.option(
    "--decrypt",
    is_flag=True,
    help="Write the plaintext of messages encrypted to you (default: keep the ciphertext).",
)
@client_options
@run_with_client(needs_key=False)
async def export_(client: Client, receiver: str | None, output: Any, decrypt: bool) -> None:
    """Write every message of RECEIVER as JSON lines (signed envelopes included).

    Encrypted messages keep their ciphertext unless --decrypt; each record says whether it
    was encrypted and whether it was decrypted."""
    from rich.progress import Progress

    if receiver is None:
        _need_own_key(client)
    cursor: Any = None
    total = 0
    with Progress(transient=True, console=None) as progress:
        task = progress.add_task("exporting", total=None)
        while True:
            page = await client.fetch_page(receiver, after=cursor, limit=500, decrypt=decrypt)
            for m in page.messages:
                output.write(orjson.dumps(_message_dict(m)).decode() + "\n")
            total += len(page.messages)
            progress.update(task, completed=total)
            if page.stand_in:
                _warn_partial(page, receiver or client.id, 500)
            if not page.messages or not page.more or page.cursor == cursor:
                break
            cursor = page.cursor
    click.echo(f"exported {total} messages", err=True)


@click.command("import")
@click.argument("input", type=click.File("r"), default="-")
@client_options
@run_with_client()
async def import_(client: Client, input: Any) -> None:
    """Store signed envelopes from JSON lines (as written by export). Idempotent."""
    from rich.progress import Progress

    from flocloud.protocol.envelope import Limits

    lines = [line for line in input if line.strip()]
    stored = duplicates = failed = 0
    with Progress(transient=True) as progress:
        task = progress.add_task("importing", total=len(lines))
        for n, line in enumerate(lines, 1):
            try:
                record = orjson.loads(line)
                wire = record.get("envelope", record) if isinstance(record, dict) else record
                env = parse_envelope(wire, now_ms=None, limits=Limits())
                reply = await client.put(env, restore=True)
                if reply.get("duplicate"):
                    duplicates += 1
                else:
                    stored += 1
            except Duplicate:
                duplicates += 1
            except (orjson.JSONDecodeError, FlocloudError) as exc:
                failed += 1
                msg = exc.message if isinstance(exc, FlocloudError) else "not JSON"
                click.echo(f"line {n}: {msg}", err=True)
            progress.update(task, advance=1)
    click.echo(f"stored {stored}, duplicates {duplicates}, failed {failed}", err=True)
    if failed:
        sys.exit(1)
