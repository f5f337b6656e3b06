"""FLO transactions: wire codec with floData, txid, the legacy signature hash, signing.

Wire format (flo-chain.md §2.1; Flo Core ``SerializeTransaction``)::

    nVersion (int32 LE) [00 01 if any witness] vin vout [witnesses] nLockTime (u32 LE)
    [varint(len) floData]   <- only when nVersion >= 2 (signed compare)

Invariants owned here:
- ``from_bytes(b).to_bytes() == b`` for every transaction Flo Core accepts; anything that
  is not a transaction raises ``TxFormatError`` (never another exception type).
- ``txid`` is SHA256d of the serialization without witnesses, which includes floData.
- ``signature_hash`` is Flo Core's legacy ``SignatureHash`` exactly: OP_CODESEPARATORs
  removed from the script code as ``GetOp`` walks it, NONE / SINGLE (including the
  "one" result when there is no matching output or the input index is out of range) /
  ANYONECANPAY read from the low 5 bits and the 0x80 bit, floData appended after nLockTime
  when nVersion >= 2 unless the 0x40 bit (SIGHASH_OMIT_FLO_DATA) is set, and the hash type
  appended as a 4-byte little-endian int32 with 0x40 cleared.
- Signing always commits to floData (never sets 0x40), with RFC 6979 low-S signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from flocloud.protocol.errors import TxFormatError
from flocloud.protocol.hashes import hash160, sha256d
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.signatures import sign_digest, verify_digest

from .script import OP_CODESEPARATOR, iter_ops, parse_p2pkh_script_sig, push_data

__all__ = [
    "MAX_FLO_DATA_SIZE",
    "SIGHASH_ALL",
    "SIGHASH_ANYONECANPAY",
    "SIGHASH_NONE",
    "SIGHASH_OMIT_FLO_DATA",
    "SIGHASH_SINGLE",
    "OutPoint",
    "Transaction",
    "TxIn",
    "TxOut",
    "check_flo_data",
    "sign_p2pkh_input",
    "verify_p2pkh_input",
]

MAX_FLO_DATA_SIZE = 1040
SIGHASH_ALL, SIGHASH_NONE, SIGHASH_SINGLE = 1, 2, 3
SIGHASH_OMIT_FLO_DATA, SIGHASH_ANYONECANPAY = 0x40, 0x80
_MAX_SIZE = 0x02000000  # Flo Core MAX_SIZE for compact sizes
_ONE = b"\x01" + b"\x00" * 31  # uint256 1, as raw bytes
_NULL_OUT = (0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") + b"\x00"  # CTxOut(): value -1, empty script


def _varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def _var_bytes(b: bytes) -> bytes:
    return _varint(len(b)) + b


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TxFormatError("transaction is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def varint(self) -> int:
        first = self.take(1)[0]
        if first < 0xFD:
            n, minimum = first, 0
        elif first == 0xFD:
            n, minimum = int.from_bytes(self.take(2), "little"), 0xFD
        elif first == 0xFE:
            n, minimum = int.from_bytes(self.take(4), "little"), 0x10000
        else:
            n, minimum = int.from_bytes(self.take(8), "little"), 0x100000000
        if n < minimum:
            raise TxFormatError("non-canonical compact size")
        if n > _MAX_SIZE:
            raise TxFormatError("compact size too large")
        return n

    def var_bytes(self) -> bytes:
        return self.take(self.varint())


@dataclass(frozen=True, slots=True)
class OutPoint:
    """A reference to an output: txid in display (reversed) hex, and index."""

    txid: str
    index: int

    def to_bytes(self) -> bytes:
        return bytes.fromhex(self.txid)[::-1] + self.index.to_bytes(4, "little")

    @property
    def is_null(self) -> bool:
        return self.txid == "00" * 32 and self.index == 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class TxIn:
    prevout: OutPoint
    script_sig: bytes = b""
    sequence: int = 0xFFFFFFFF

    def to_bytes(self) -> bytes:
        return (
            self.prevout.to_bytes()
            + _var_bytes(self.script_sig)
            + self.sequence.to_bytes(4, "little")
        )


@dataclass(frozen=True, slots=True)
class TxOut:
    value: int  # satoshi
    script_pubkey: bytes

    def to_bytes(self) -> bytes:
        return self.value.to_bytes(8, "little", signed=True) + _var_bytes(self.script_pubkey)


@dataclass(frozen=True, slots=True)
class Transaction:
    """A FLO transaction (immutable; ``replace`` to change it)."""

    version: int = 2
    inputs: tuple[TxIn, ...] = ()
    outputs: tuple[TxOut, ...] = ()
    locktime: int = 0
    flo_data: bytes = b""
    witnesses: tuple[tuple[bytes, ...], ...] = field(default=())

    # -- codec ----------------------------------------------------------------------

    @classmethod
    def from_hex(cls, hex_str: str) -> Transaction:
        try:
            raw = bytes.fromhex(hex_str.strip())
        except (ValueError, AttributeError):
            raise TxFormatError("transaction hex is not valid hex") from None
        return cls.from_bytes(raw)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Transaction:
        r = _Reader(bytes(raw))
        version = int.from_bytes(r.take(4), "little", signed=True)
        inputs = cls._read_inputs(r)
        flags = 0
        outputs: tuple[TxOut, ...] = ()
        if not inputs:
            flags = r.take(1)[0]  # the segwit marker (or an empty vout)
            if flags != 0:
                inputs = cls._read_inputs(r)
                outputs = cls._read_outputs(r)
        else:
            outputs = cls._read_outputs(r)
        witnesses: tuple[tuple[bytes, ...], ...] = ()
        if flags & 1:
            flags ^= 1
            witnesses = tuple(tuple(r.var_bytes() for _ in range(r.varint())) for _ in inputs)
            if not any(witnesses):
                raise TxFormatError("superfluous witness record")
        if flags:
            raise TxFormatError("unknown transaction optional data")
        locktime = r.u32()
        flo_data = r.var_bytes() if version >= 2 else b""
        if r.pos != len(r.data):
            raise TxFormatError("trailing bytes after the transaction")
        return cls(version, inputs, outputs, locktime, flo_data, witnesses)

    @staticmethod
    def _read_inputs(r: _Reader) -> tuple[TxIn, ...]:
        out = []
        for _ in range(r.varint()):
            txid = r.take(32)[::-1].hex()
            index = r.u32()
            script = r.var_bytes()
            out.append(TxIn(OutPoint(txid, index), script, r.u32()))
        return tuple(out)

    @staticmethod
    def _read_outputs(r: _Reader) -> tuple[TxOut, ...]:
        out = []
        for _ in range(r.varint()):
            value = int.from_bytes(r.take(8), "little", signed=True)
            out.append(TxOut(value, r.var_bytes()))
        return tuple(out)

    def _serialize(self, *, with_witness: bool) -> bytes:
        witness = with_witness and any(self.witnesses)
        parts = [self.version.to_bytes(4, "little", signed=True)]
        if witness:
            parts.append(b"\x00\x01")
        parts.append(_varint(len(self.inputs)))
        parts.extend(i.to_bytes() for i in self.inputs)
        parts.append(_varint(len(self.outputs)))
        parts.extend(o.to_bytes() for o in self.outputs)
        if witness:
            for stack in self.witnesses:
                parts.append(_varint(len(stack)))
                parts.extend(_var_bytes(item) for item in stack)
        parts.append(self.locktime.to_bytes(4, "little"))
        if self.version >= 2:
            parts.append(_var_bytes(self.flo_data))
        return b"".join(parts)

    def to_bytes(self) -> bytes:
        return self._serialize(with_witness=True)

    def to_hex(self) -> str:
        return self.to_bytes().hex()

    @property
    def txid(self) -> str:
        return sha256d(self._serialize(with_witness=False))[::-1].hex()

    @property
    def size(self) -> int:
        return len(self.to_bytes())

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].prevout.is_null

    # -- signature hash -------------------------------------------------------------

    def signature_hash(self, input_index: int, script_code: bytes, hash_type: int) -> bytes:
        """Flo Core's legacy ``SignatureHash``: the raw 32-byte digest (not reversed)."""
        hash_type = ((hash_type + 2**31) % 2**32) - 2**31  # as Flo Core's int
        n_in = input_index
        if n_in < 0 or n_in >= len(self.inputs):
            return _ONE
        base = hash_type & 0x1F
        single, none = base == SIGHASH_SINGLE, base == SIGHASH_NONE
        if single and n_in >= len(self.outputs):
            return _ONE
        anyone = bool(hash_type & SIGHASH_ANYONECANPAY)
        omit_flo_data = bool(hash_type & SIGHASH_OMIT_FLO_DATA)
        code = _strip_codeseparators(script_code)
        parts = [self.version.to_bytes(4, "little", signed=True)]
        indexes = [n_in] if anyone else range(len(self.inputs))
        parts.append(_varint(len(indexes)))
        for i in indexes:
            txin = self.inputs[i]
            parts.append(txin.prevout.to_bytes())
            parts.append(code if i == n_in else b"\x00")
            seq = 0 if (i != n_in and (single or none)) else txin.sequence
            parts.append(seq.to_bytes(4, "little"))
        n_out = 0 if none else (n_in + 1 if single else len(self.outputs))
        parts.append(_varint(n_out))
        for o in range(n_out):
            parts.append(_NULL_OUT if single and o != n_in else self.outputs[o].to_bytes())
        parts.append(self.locktime.to_bytes(4, "little"))
        if self.version >= 2 and not omit_flo_data:
            parts.append(_var_bytes(self.flo_data))
        parts.append((hash_type & ~SIGHASH_OMIT_FLO_DATA).to_bytes(4, "little", signed=True))
        return sha256d(b"".join(parts))


def _strip_codeseparators(script: bytes) -> bytes:
    """``SerializeScriptCode``: the length prefix counts only removed separators, and the
    bytes written stop where ``GetOp`` stopped (as Flo Core does on a truncated push)."""
    ops = list(iter_ops(script))
    separators = sum(1 for op, _, _ in ops if op == OP_CODESEPARATOR)
    out = bytearray(_varint(len(script) - separators))
    begin = 0
    stop = 0
    for op, _, pos in ops:
        stop = pos
        if op == OP_CODESEPARATOR:
            out += script[begin : pos - 1]
            begin = pos
    if begin != len(script):
        out += script[begin:stop]
    return bytes(out)


def check_flo_data(flo_data: bytes) -> None:
    """floData is at most 1040 bytes to be relayed (Flo Core MAX_FLO_DATA_SIZE)."""
    if len(flo_data) > MAX_FLO_DATA_SIZE:
        raise TxFormatError(f"floData is {len(flo_data)} bytes; at most {MAX_FLO_DATA_SIZE}")


def sign_p2pkh_input(
    tx: Transaction, index: int, key: PrivateKey, hash_type: int = SIGHASH_ALL
) -> Transaction:
    """Sign input ``index`` (spending ``key``'s P2PKH output) and return the new tx."""
    if hash_type & SIGHASH_OMIT_FLO_DATA or (hash_type & 0x1F) not in (1, 2, 3):
        raise TxFormatError("hash type must be ALL, NONE or SINGLE (+ANYONECANPAY)")
    if not 0 <= index < len(tx.inputs):
        raise TxFormatError(f"no input {index}")
    from .script import p2pkh_script

    script_code = p2pkh_script(hash160(key.public_key))
    digest = tx.signature_hash(index, script_code, hash_type)
    sig = sign_digest(key, digest) + bytes([hash_type & 0xFF])
    script_sig = push_data(sig) + push_data(key.public_key)
    inputs = list(tx.inputs)
    inputs[index] = replace(inputs[index], script_sig=script_sig)
    return replace(tx, inputs=tuple(inputs))


def verify_p2pkh_input(tx: Transaction, index: int, script_pubkey: bytes) -> bool:
    """Check a ``<sig> <pubkey>`` input against the P2PKH output it spends.

    Mirrors Flo Core's ``CheckSig``: the hash type byte comes from the signature, and if
    verification fails it retries once with the 0x40 (omit floData) bit toggled.
    """
    if not 0 <= index < len(tx.inputs):
        return False
    parsed = parse_p2pkh_script_sig(tx.inputs[index].script_sig)
    if parsed is None:
        return False
    sig, pub = parsed
    if script_pubkey != b"\x76\xa9\x14" + hash160(pub) + b"\x88\xac":
        return False
    hash_type, der = sig[-1], sig[:-1]
    if verify_digest(pub, der, tx.signature_hash(index, script_pubkey, hash_type)):
        return True
    toggled = hash_type ^ SIGHASH_OMIT_FLO_DATA
    return verify_digest(pub, der, tx.signature_hash(index, script_pubkey, toggled))
