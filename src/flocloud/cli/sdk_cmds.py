"""CLI commands over the SDK: send, fetch, watch, object, delete, export, import.

Invariant: these commands are thin; everything they do goes through ``flocloud.Client``.
The key comes from ``--wif``/``--key-file`` or the default key file and is never printed.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

import click
import orjson

from flocloud.client import Client, Message
from flocloud.client.keyfile import find_chain_source, load_key
from flocloud.protocol.envelope import parse_envelope
from flocloud.protocol.errors import BadFormat, Duplicate, FlocloudError

F = TypeVar("F", bound=Callable[..., Any])


def client_options(fn: F) -> F:
    """Options shared by every command that talks to the network."""
    opts = [
        click.option("--wif", envvar="FLOCLOUD_WIF", help="Key to use (default: the key file)."),
        click.option("--key-file", type=click.Path(dir_okay=False), help="Key file to use."),
        click.option(
            "--explorer", help="Chain explorer URL (Blockbook/Flosight or the dev chain)."
        ),
        click.option("--registry", help="Registry FLO ID that publishes the supernode list."),
        click.option(
            "--explorer-kind",
            type=click.Choice(["blockbook", "blockbook-v2", "flosight"]),
            default=None,
        ),
        click.option("--timeout", type=float, default=5.0, show_default=True),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def run_with_client(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Open a ``Client`` from the shared options, run ``fn(client, ...)``, close it."""

    @functools.wraps(fn)
    def wrapper(
        wif: str | None,
        key_file: str | None,
        explorer: str | None,
        registry: str | None,
        explorer_kind: str | None,
        timeout: float,
        **kwargs: Any,
    ) -> Any:
        async def main() -> Any:
            key = load_key(wif, key_file)
            source = find_chain_source(explorer, registry, explorer_kind)
            client = await Client.from_chain(
                key,
                explorer=source.explorer,
                registry=source.registry,
                explorer_kind=source.kind,
                request_timeout=timeout,
            )
            async with client:
                return await fn(client, **kwargs)

        try:
            return asyncio.run(main())
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper


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
    return d


def _print_messages(messages: list[Message], as_json: bool) -> None:
    if as_json:
        for m in messages:
            click.echo(orjson.dumps(_message_dict(m)).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("time", "from", "app", "type", "payload", "id")
    for m in messages:
        payload = "[encrypted]" if m.encrypted else orjson.dumps(m.payload).decode()
        table.add_row(str(m.time), m.sender, m.application, m.type, payload[:60], m.id[:12])
    Console().print(table)


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
@client_options
@run_with_client
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
) -> None:
    """Send DATA (JSON; stdin when omitted) to RECEIVER. Prints the message id."""
    value: Any = (
        (data if data is not None else sys.stdin.read()) if text else _json_arg(data, "DATA")
    )
    msg_id = await client.send(
        receiver,
        value,
        app=app,
        type=type_,
        comment=comment,
        encrypt=encrypt,
        min_replicas=min_replicas,
    )
    click.echo(msg_id)


@click.command()
@click.argument("receiver", required=False)
@click.option("--after", help="The cursor printed by the previous fetch.")
@click.option("--app")
@click.option("--type", "type_")
@click.option("--sender")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--newest-first", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@client_options
@run_with_client
async def fetch(
    client: Client,
    receiver: str | None,
    after: str | None,
    app: str | None,
    type_: str | None,
    sender: str | None,
    limit: int,
    newest_first: bool,
    as_json: bool,
) -> None:
    """Fetch messages for RECEIVER (default: you). The next cursor goes to stderr."""
    messages, cursor = await client.fetch(
        receiver,
        after=after,
        app=app,
        type=type_,
        sender=sender,
        limit=limit,
        newest_first=newest_first,
    )
    _print_messages(messages, as_json)
    click.echo(f"next cursor: {cursor}", err=True)


@click.command()
@click.argument("receiver", required=False)
@click.option("--app")
@click.option("--type", "type_")
@click.option("--after", help="A cursor: start after what it covers.")
@client_options
@run_with_client
async def watch(
    client: Client, receiver: str | None, app: str | None, type_: str | None, after: str | None
) -> None:
    """Print stored, then live messages for RECEIVER as JSON lines until Ctrl-C."""
    async for msg in client.subscribe(receiver, application=app, type=type_, after=after):
        click.echo(orjson.dumps(_message_dict(msg)).decode())


@click.group()
def object() -> None:
    """Application objects: get, reset, patch, append, remove, changes, history."""


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
@run_with_client
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
@run_with_client
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
@run_with_client
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
    @run_with_client
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
@run_with_client
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
@run_with_client
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
@run_with_client
async def delete(client: Client, message_id: str, receiver: str | None) -> None:
    """Delete a message (as its receiver or an app admin). Prints the tombstone id."""
    click.echo(await client.delete(message_id, receiver=receiver))


@click.command("export")
@click.argument("receiver", required=False)
@click.option("--output", "-o", type=click.File("w"), default="-")
@client_options
@run_with_client
async def export_(client: Client, receiver: str | None, output: Any) -> None:
    """Write every message of RECEIVER as JSON lines (signed envelopes included)."""
    from rich.progress import Progress

    cursor: str | None = None
    total = 0
    with Progress(transient=True, console=None) as progress:
        task = progress.add_task("exporting", total=None)
        while True:
            messages, nxt = await client.fetch(receiver, after=cursor, limit=500)
            for m in messages:
                output.write(orjson.dumps(_message_dict(m)).decode() + "\n")
            total += len(messages)
            progress.update(task, completed=total)
            if not messages or nxt == cursor:
                break
            cursor = nxt
    click.echo(f"exported {total} messages", err=True)


@click.command("import")
@click.argument("input", type=click.File("r"), default="-")
@client_options
@run_with_client
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


COMMANDS = [send, fetch, watch, object, delete, export_, import_]
