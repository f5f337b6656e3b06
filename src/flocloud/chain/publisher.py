"""Build, sign and broadcast FLO transactions that carry floData.

Invariants owned here:
- The fee is at least ``fee_rate`` sat/byte of the final *signed* size (default 1
  sat/byte = Flo Core's 1000 sat/kB minimum relay fee), checked after signing because
  DER signatures vary in length by a byte.
- No dust: change below ``DUST_LIMIT`` (546 sat) goes to the fee instead.
- floData is at most 1040 bytes; every input is a P2PKH output of the signing key and
  every signature commits to floData.
- ``publish_many`` chains its transactions (each spends the previous one's change), so
  they confirm, and therefore apply, in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from flocloud.protocol.errors import InsufficientFunds
from flocloud.protocol.hashes import hash160
from flocloud.protocol.keys import PrivateKey

from .reader import ChainReader, Utxo
from .script import p2pkh_script, script_for_address
from .tx import OutPoint, Transaction, TxIn, TxOut, check_flo_data, sign_p2pkh_input

__all__ = ["DUST_LIMIT", "Publisher", "build_data_tx"]

DUST_LIMIT = 546
DEFAULT_FEE_RATE = 1.0  # sat per byte


def _fee(tx: Transaction, fee_rate: float) -> int:
    return math.ceil(tx.size * fee_rate)


def _sign_all(tx: Transaction, key: PrivateKey) -> Transaction:
    for i in range(len(tx.inputs)):
        tx = sign_p2pkh_input(tx, i, key)
    return tx


def build_data_tx(
    utxos: Sequence[Utxo],
    key: PrivateKey,
    flo_data: bytes,
    fee_rate: float = DEFAULT_FEE_RATE,
    to_address: str | None = None,
    amount: int | None = None,
) -> Transaction:
    """A signed transaction from ``key``'s UTXOs carrying ``flo_data``.

    Pays ``amount`` sat to ``to_address`` when given, the rest (minus the fee) back to the
    key's own address. Coins are taken largest first until the fee for the real size is met.
    """
    check_flo_data(flo_data)
    if amount is not None and (amount < DUST_LIMIT or to_address is None):
        raise ValueError(f"a payment needs an address and at least {DUST_LIMIT} sat")
    own = p2pkh_script(hash160(key.public_key))
    pay = [TxOut(amount, script_for_address(to_address))] if to_address and amount else []
    need = sum(o.value for o in pay)
    chosen: list[Utxo] = []
    for utxo in sorted(utxos, key=lambda u: (-u.value, u.txid, u.vout)):
        chosen.append(utxo)
        total = sum(u.value for u in chosen)
        inputs = tuple(TxIn(OutPoint(u.txid, u.vout)) for u in chosen)
        # Sign with a change output, then check the fee on the *signed* size: DER
        # signatures vary by a byte, so lower the change and re-sign until it is covered.
        change = total - need
        signed = _sign_all(Transaction(2, inputs, (*pay, TxOut(change, own)), 0, flo_data), key)
        for _ in range(4):
            short = _fee(signed, fee_rate) - (total - need - change)
            if short <= 0:
                break
            change -= short
            signed = _sign_all(Transaction(2, inputs, (*pay, TxOut(change, own)), 0, flo_data), key)
        if change >= DUST_LIMIT and _fee(signed, fee_rate) <= total - need - change:
            return signed
        if pay:
            signed = _sign_all(Transaction(2, inputs, tuple(pay), 0, flo_data), key)
            if total - need >= _fee(signed, fee_rate):
                return signed  # the dust change goes to the fee
    total = sum(u.value for u in utxos)
    raise InsufficientFunds(
        f"{key.address} has {total} sat in {len(utxos)} coins; not enough for "
        f"{need} sat plus the fee (and a change output of at least {DUST_LIMIT} sat)"
    )


@dataclass
class Publisher:
    """Publishes floData from one key through a ``ChainReader``."""

    reader: ChainReader
    key: PrivateKey
    fee_rate: float = DEFAULT_FEE_RATE

    async def publish(self, flo_data: bytes) -> str:
        return (await self.publish_many([flo_data]))[0]

    async def publish_many(self, payloads: Sequence[bytes]) -> list[str]:
        """Broadcast one transaction per payload, chained so they apply in order."""
        for p in payloads:
            check_flo_data(p)
        utxos = await self.reader.utxos(self.key.address)
        txids: list[str] = []
        for payload in payloads:
            tx = build_data_tx(utxos, self.key, payload, self.fee_rate)
            txid = await self.reader.broadcast(tx.to_hex())
            txids.append(txid)
            change = tx.outputs[-1]
            # the next transaction spends only this one's change: order is guaranteed
            utxos = [Utxo(tx.txid, len(tx.outputs) - 1, change.value, 0)]
        return txids
