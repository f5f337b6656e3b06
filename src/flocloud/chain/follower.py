"""``RegistryFollower``: the one reader of the registry and of the app admins' updates.

Node, client, CLI and dashboard all get their ``NetworkState`` from here; nothing else
reads registry transactions.

Invariants owned here:
- A transaction applies only once it is ``confirmations`` deep (default 6, about four
  minutes of FLO blocks), oldest first in block order; transactions of one block apply
  together.
- Reorg-safe: for every block it took transactions from (updates or not), the follower
  remembers (height, block hash, the txids, the state before). Each refresh first checks
  the newest remembered block is still on the best chain (``block_hash(height)``); when
  it is not, it drops remembered blocks newest first until one matches (the fork point)
  and refolds from there. Blocks more than ``REORG_WINDOW`` below the newest are
  forgotten (Flo Core refuses reorgs that deep); a fork below everything remembered
  refolds from the start. So a running follower and a fresh one that read the same best
  chain hold equal states.
- A refresh is all or nothing: it works on copies and keeps them only when every read
  succeeded. It runs under one deadline (``timeout``) across every request, retry and
  page; each explorer is tried in turn (failover), starting with the last one that
  worked. Every registry or admin update is checked against the transaction's hex (from
  the explorer's view, or fetched with ``raw_hex`` when the view has none, as Flosight's):
  a view that disagrees with the hex is an error like any other, and the next explorer
  is asked.
- Admin updates (sub-admins, trusted IDs, settings) are read from each app admin's own
  address; when the set of apps an address administers changes, its fold starts over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from flocloud.protocol.errors import ExplorerError, FlocloudError
from flocloud.protocol.keys import check_address
from flocloud.protocol.params import Network

from .reader import ChainReader, ChainTx, check_hex
from .registry import (
    KEY,
    MAX_SKIPPED,
    AdminRecord,
    AppInfo,
    Epoch,
    NetworkState,
    apply_admin_update,
    apply_update,
)

__all__ = ["DEFAULT_CONFIRMATIONS", "REORG_WINDOW", "RegistryFollower"]

log = logging.getLogger("flocloud.chain.follower")
DEFAULT_CONFIRMATIONS = 6
REORG_WINDOW = 100  # blocks; Flo Core's mainnet "no large reorg" limit

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Block(Generic[V]):
    height: int
    hash: str
    txids: tuple[str, ...]  # in block order
    before: V


@dataclass(frozen=True, slots=True)
class _Source(Generic[V]):
    """One address whose transactions are folded into a value."""

    address: str
    initial: V
    value: V
    blocks: tuple[_Block[V], ...] = ()

    def reset(self) -> _Source[V]:
        return replace(self, value=self.initial, blocks=())


@dataclass(frozen=True, slots=True)
class _AdminFold:
    apps: frozenset[str]
    records: MappingProxyType[str, AdminRecord] = field(
        default_factory=lambda: MappingProxyType({})
    )
    problems: tuple[tuple[str, str], ...] = ()
    problems_total: int = 0
    epoch: Epoch | None = None


async def _checked(reader: ChainReader, tx: ChainTx) -> ChainTx:
    """``tx`` checked against its hex (fetched when the explorer's view had none); a
    view that disagrees with the bytes is the explorer's error."""
    if not tx.hex:
        raw = await reader.raw_hex(tx.txid)
        tx = check_hex(replace(tx, hex=raw)) if raw else tx
    if tx.mismatch:
        raise ExplorerError(f"{reader.base_url}: {tx.mismatch}")
    return tx


async def _sync(
    reader: ChainReader,
    source: _Source[V],
    fold: Callable[[V, ChainTx], V],
    confirmations: int,
    relevant: Callable[[ChainTx], bool],
) -> _Source[V]:
    """Undo blocks no longer on the best chain, then apply the new confirmed ones
    (``relevant`` ones checked against their hex first)."""
    blocks = list(source.blocks)
    value = source.value
    best = (await reader.status()).best_height if blocks else 0
    while blocks:
        top = blocks[-1]
        try:
            current = await reader.block_hash(top.height)
        except ExplorerError:
            tip = await reader.status()
            if tip.best_height >= top.height:
                raise
            current = ""  # the chain is now shorter than this block
        # still on the best chain, and still deep enough (a reorg onto a shorter branch
        # can leave a remembered block with fewer than ``confirmations``)
        if current == top.hash and best - top.height + 1 >= confirmations:
            break
        log.warning(
            "registry follower: block %d %s of %s is no longer on the best chain; refolding",
            top.height,
            top.hash[:16],
            source.address,
        )
        value = top.before
        blocks.pop()
    if source.blocks and not blocks:
        value = source.initial  # forked below everything remembered: start over
    last = blocks[-1] if blocks else None
    txs = await reader.history(
        source.address,
        since_height=last.height if last else 0,
        after_txid=last.txids[-1] if last else None,
    )
    done = set(last.txids) if last else set()
    pending: list[ChainTx] = []

    def close_block() -> None:
        nonlocal value
        if not pending:
            return
        first = pending[0]
        before = value
        for tx in pending:
            value = fold(value, tx)
        blocks.append(
            _Block(
                first.block_height or 0,
                first.block_hash or "",
                tuple(t.txid for t in pending),
                before,
            )
        )
        pending.clear()

    for tx in txs:
        if tx.txid in done:
            continue
        if tx.block_height is None or tx.confirmations < confirmations:
            break  # everything after it is younger
        if not tx.block_hash:
            raise ExplorerError(f"{reader.base_url}: transaction {tx.txid} has no block hash")
        if pending and pending[0].block_height != tx.block_height:
            close_block()
        pending.append(await _checked(reader, tx) if relevant(tx) else tx)
    close_block()
    if blocks:
        floor = blocks[-1].height - REORG_WINDOW
        blocks = [b for b in blocks[:-1] if b.height >= floor] + [blocks[-1]]
    return replace(source, value=value, blocks=tuple(blocks))


def _mentions(names: frozenset[str]) -> Callable[[ChainTx], bool]:
    return lambda tx: any(name in tx.flo_data for name in names)


class RegistryFollower:
    """Follows one registry ID through one or more explorers (tried in turn)."""

    def __init__(
        self,
        readers: ChainReader | Sequence[ChainReader],
        registry_id: str,
        network: Network,
        *,
        confirmations: int = DEFAULT_CONFIRMATIONS,
        timeout: float | None = 60.0,
    ) -> None:
        self.readers: list[ChainReader] = (
            [readers] if not isinstance(readers, Sequence) else list(readers)
        )
        if not self.readers:
            raise ValueError("a registry follower needs at least one explorer")
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1")
        self.registry_id = check_address(registry_id, network)
        self.network = network
        self.confirmations = confirmations
        self.timeout = timeout
        empty = NetworkState(network, self.registry_id)
        self._registry: _Source[NetworkState] = _Source(self.registry_id, empty, empty)
        self._admins: dict[str, _Source[_AdminFold]] = {}
        self._good = 0  # index of the explorer that answered last
        self.state: NetworkState = empty
        self.explorer = ""  # base URL of the explorer of the last successful refresh

    async def aclose(self) -> None:
        for reader in self.readers:
            await reader.aclose()

    async def __aenter__(self) -> RegistryFollower:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def load(self) -> NetworkState:
        return await self.refresh()

    def earlier_states(self) -> list[NetworkState]:
        """The registry's states before each block still remembered (the last
        ``REORG_WINDOW`` blocks with registry updates), newest first: the layouts a node
        that just started may not have seen (strict objects' rounds stay joint with them)."""
        return [b.before for b in reversed(self._registry.blocks)]

    async def refresh(self) -> NetworkState:
        """Bring the state up to the best chain; raises ``ExplorerError`` if no explorer
        answered (the previous state is kept)."""
        errors: list[str] = []
        order = self.readers[self._good :] + self.readers[: self._good]
        for reader in order:
            try:
                async with asyncio.timeout(self.timeout):
                    registry, admins = await self._refresh_with(reader)
            except TimeoutError:
                errors.append(f"{reader.base_url}: no complete answer within {self.timeout} s")
                continue
            except FlocloudError as exc:
                errors.append(exc.message)
                continue
            self._registry, self._admins = registry, admins
            self._good = self.readers.index(reader)
            self.explorer = reader.base_url
            self.state = self._combine()
            return self.state
        raise ExplorerError("registry not read: " + "; ".join(errors))

    async def _refresh_with(
        self, reader: ChainReader
    ) -> tuple[_Source[NetworkState], dict[str, _Source[_AdminFold]]]:
        registry = await _sync(
            reader, self._registry, apply_update, self.confirmations, lambda t: KEY in t.flo_data
        )
        by_admin: dict[str, set[str]] = {}
        for app in registry.value.apps:
            by_admin.setdefault(app.admin, set()).add(app.name)
        admins: dict[str, _Source[_AdminFold]] = {}
        for address, names in sorted(by_admin.items()):
            old = self._admins.get(address)
            apps = frozenset(names)
            if old is None or old.initial.apps != apps:
                fresh = _AdminFold(apps)
                old = _Source(address, fresh, fresh)
            admins[address] = await _sync(
                reader, old, self._admin_fold(address), self.confirmations, _mentions(apps)
            )
        return registry, admins

    def _admin_fold(self, address: str) -> Callable[[_AdminFold, ChainTx], _AdminFold]:
        network = self.network

        def fold(acc: _AdminFold, tx: ChainTx) -> _AdminFold:
            if not tx.sent_by(address):
                return acc
            records, problems = apply_admin_update(acc.records, sorted(acc.apps), tx, network)
            changed = records != dict(acc.records) or problems
            for p in problems:
                log.warning("admin tx %s of %s: skipped %s", tx.txid, address, p)
            epoch = acc.epoch
            if changed and tx.block_height is not None and tx.block_hash:
                epoch = Epoch(tx.block_height, tx.block_hash)
            return replace(
                acc,
                records=MappingProxyType(records),
                problems=(*acc.problems, *((tx.txid, p) for p in problems))[-MAX_SKIPPED:],
                problems_total=acc.problems_total + len(problems),
                epoch=epoch,
            )

        return fold

    def _combine(self) -> NetworkState:
        state = self._registry.value
        epochs = [state.epoch] if state.epoch else []
        skipped = list(state.skipped)
        total = state.skipped_total
        apps: list[AppInfo] = []
        for app in state.apps:
            src = self._admins.get(app.admin)
            rec = src.value.records.get(app.name) if src else None
            if rec is not None:
                app = replace(
                    app, sub_admins=rec.sub_admins, trusted=rec.trusted, settings=rec.settings
                )
            apps.append(app)
        for src in self._admins.values():
            if src.value.epoch:
                epochs.append(src.value.epoch)
            skipped += src.value.problems
            total += src.value.problems_total
        epoch = max(epochs, key=lambda e: e.height) if epochs else None
        return replace(
            state,
            apps=tuple(apps),
            epoch=epoch,
            skipped=tuple(skipped)[-MAX_SKIPPED:],
            skipped_total=total,
        )

    def is_newer(self, epoch: Any) -> bool:
        """Whether an epoch a node reported is ahead of ours (then refresh)."""
        theirs = Epoch.from_json(epoch)
        ours = self.state.epoch
        if theirs is None:
            return False
        if ours is None:
            return True
        return theirs.height > ours.height or (
            theirs.height == ours.height and theirs.hash != ours.hash
        )
