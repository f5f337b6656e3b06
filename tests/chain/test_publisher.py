"""The transaction builder: fee on the signed size, change, dust, order of publish_many."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.chain.publisher import DUST_LIMIT, Publisher, build_data_tx
from flocloud.chain.reader import Utxo
from flocloud.chain.script import p2pkh_script
from flocloud.chain.tx import Transaction, verify_p2pkh_input
from flocloud.protocol.errors import InsufficientFunds
from flocloud.protocol.hashes import hash160
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST

KEY = PrivateKey(b"\x07" * 32, REGTEST)
SPK = p2pkh_script(hash160(KEY.public_key))
coins = st.lists(
    st.builds(
        Utxo,
        st.binary(min_size=32, max_size=32).map(bytes.hex),
        st.integers(0, 3),
        st.integers(1, 10**9),
        st.just(1),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda u: (u.txid, u.vout),
)


@settings(max_examples=60, deadline=None)
@given(coins, st.binary(max_size=1040), st.sampled_from([1.0, 2.5]))
def test_fee_covers_signed_size(utxos: list[Utxo], flo_data: bytes, rate: float) -> None:
    """Whatever the coins: fee >= rate x final size, no dust, every input signed over floData."""
    try:
        tx = build_data_tx(utxos, KEY, flo_data, rate)
    except InsufficientFunds:
        assert sum(u.value for u in utxos) < 20_000 + len(flo_data) * 3
        return
    spent = {(i.prevout.txid, i.prevout.index) for i in tx.inputs}
    value_in = sum(u.value for u in utxos if (u.txid, u.vout) in spent)
    fee = value_in - sum(o.value for o in tx.outputs)
    assert fee >= math.ceil(tx.size * rate)
    assert all(o.value >= DUST_LIMIT for o in tx.outputs)
    assert tx.flo_data == flo_data
    assert all(verify_p2pkh_input(tx, i, SPK) for i in range(len(tx.inputs)))


class FakeReader:
    """A stand-in for an external explorer: records broadcasts."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def utxos(self, address: str, confirmed_only: bool = False) -> list[Utxo]:
        return [Utxo("aa" * 32, 0, 10_000_000, 3)]

    async def broadcast(self, raw_hex: str) -> str:
        self.sent.append(raw_hex)
        return Transaction.from_hex(raw_hex).txid


async def test_publish_many_chains_in_order() -> None:
    """Each transaction spends the previous one's change, so they apply in order."""
    reader = FakeReader()
    txids = await Publisher(reader, KEY).publish_many([b"one", b"two", b"three"])  # type: ignore[arg-type]
    txs = [Transaction.from_hex(h) for h in reader.sent]
    assert [t.txid for t in txs] == txids
    assert [t.flo_data for t in txs] == [b"one", b"two", b"three"]
    for prev, nxt in itertools.pairwise(txs):
        assert nxt.inputs[0].prevout.txid == prev.txid
