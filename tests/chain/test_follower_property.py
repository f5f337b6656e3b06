"""Property: whatever sequence of blocks and reorganisations the chain goes through, a
follower that was running all along holds the same state as a fresh one.

The explorer here is in memory (``MemoryExplorer``, a stand-in for the external
explorer, parsed by the real Blockbook v1 reader code); the HTTP paths are covered by
``test_follower.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fake_explorers import BASE, REG, FakeChain, key, signed_tx
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.chain import BlockbookV1Reader, ChainStatus, ChainTx, RegistryFollower
from flocloud.chain.registry import make_admin_update, make_registry_update
from flocloud.protocol.errors import ExplorerError
from flocloud.protocol.params import REGTEST

POOL = [key(f"p{i}") for i in range(4)]
ADMIN = key("prop-admin")


class MemoryExplorer(BlockbookV1Reader):
    """The ``ChainReader`` calls the follower makes, answered from a ``FakeChain``."""

    def __init__(self, chain: FakeChain) -> None:
        super().__init__("memory://")
        self.chain = chain

    async def status(self) -> ChainStatus:
        return ChainStatus(self.chain.tip, True, "regtest")

    async def block_hash(self, height: int) -> str:
        if not BASE <= height <= self.chain.tip:
            raise ExplorerError("block not found")
        return self.chain.block_hash(height)

    async def history(
        self, address: str, *, since_height: int = 0, after_txid: str | None = None
    ) -> list[ChainTx]:
        return [
            self._tx(self.chain.v1(h, tx, fork=True))
            for h, _, tx in self.chain.history(address)
            if h >= since_height
        ]


def update(op: tuple[str, int], salt: int) -> bytes:
    kind, i = op
    k = POOL[i % len(POOL)]
    payloads = {
        "add": lambda: make_registry_update(add_nodes=[(k.address, k.pubkey_hex, f"n{salt}.x")]),
        "remove": lambda: make_registry_update(remove_nodes=[k.address]),
        "config": lambda: make_registry_update(config={"backupDepth": i % 4}),
        "app": lambda: make_registry_update(add_apps={f"app{i % 2}": ADMIN.address}),
        "noise": lambda: [f'{{"chat": {salt}}}'.encode()],
    }
    (payload,) = payloads[kind]()
    return payload


ops = st.tuples(st.sampled_from(["add", "remove", "config", "app", "noise"]), st.integers(0, 7))
blocks = st.lists(st.lists(ops, max_size=3), min_size=1, max_size=3)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("extend"), blocks),
        st.tuples(st.just("reorg"), st.integers(1, 4), blocks),
        st.tuples(st.just("admin"), st.integers(0, 7)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(steps=steps, confirmations=st.integers(1, 3))
def test_running_follower_equals_fresh_follower(steps: list[Any], confirmations: int) -> None:
    asyncio.run(_run(steps, confirmations))


async def _run(steps: list[Any], confirmations: int) -> None:
    chain = FakeChain()
    chain.add_block()
    salt = 0

    def make(block_ops: list[list[tuple[str, int]]]) -> list[list[Any]]:
        nonlocal salt
        out = []
        for ops_ in block_ops:
            txs = []
            for op in ops_:
                salt += 1
                txs.append(signed_tx([REG], update(op, salt), salt))
            out.append(txs)
        return out

    running = RegistryFollower(
        MemoryExplorer(chain), REG.address, REGTEST, confirmations=confirmations
    )
    for step in steps:
        if step[0] == "extend":
            for txs in make(step[1]):
                chain.add_block(*txs, tag=f"s{salt}")
        elif step[0] == "reorg":
            height = max(BASE + 1, chain.tip - step[1] + 1)
            if height <= chain.tip:
                salt += 1
                chain.replace_from(height, *make(step[2]), tag=f"r{salt}")
        else:
            salt += 1
            (payload,) = make_admin_update("app0", add_sub_admins=[POOL[step[1] % 4].address])
            chain.add_block(signed_tx([ADMIN], payload, salt), tag=f"a{salt}")
        state = await running.refresh()
        fresh = await RegistryFollower(
            MemoryExplorer(chain), REG.address, REGTEST, confirmations=confirmations
        ).load()
        assert state == fresh, step
