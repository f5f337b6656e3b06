"""Script helpers: opcode walking (as Flo Core's ``GetOp``), P2PKH/P2SH scripts and addresses.

Invariant: ``iter_ops`` walks a script exactly as Flo Core's ``CScript::GetOp`` does,
including where it stops on a truncated push; the signature hash depends on it.
"""

from __future__ import annotations

from collections.abc import Iterator

from flocloud.protocol.base58 import b58check_encode
from flocloud.protocol.keys import decode_address
from flocloud.protocol.params import Network

__all__ = [
    "OP_CHECKSIG",
    "OP_CODESEPARATOR",
    "OP_DUP",
    "OP_EQUAL",
    "OP_EQUALVERIFY",
    "OP_HASH160",
    "address_from_script",
    "iter_ops",
    "p2pkh_script",
    "p2sh_script",
    "parse_p2pkh_script_sig",
    "push_data",
    "script_for_address",
]

OP_PUSHDATA1, OP_PUSHDATA2, OP_PUSHDATA4 = 0x4C, 0x4D, 0x4E
OP_DUP, OP_HASH160, OP_EQUAL, OP_EQUALVERIFY = 0x76, 0xA9, 0x87, 0x88
OP_CHECKSIG, OP_CODESEPARATOR = 0xAC, 0xAB


def iter_ops(script: bytes) -> Iterator[tuple[int, bytes, int]]:
    """Yield ``(opcode, pushed data, position after the op)``.

    Stops like ``GetOp`` on a truncated push; the position it stopped at is then yielded
    as ``(-1, b"", pos)`` so callers can mirror what Flo Core does with the remainder.
    """
    pc, end = 0, len(script)
    while pc < end:
        opcode = script[pc]
        pc += 1
        size = 0
        if opcode <= OP_PUSHDATA4:
            if opcode < OP_PUSHDATA1:
                size = opcode
            else:
                width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}[opcode]
                if end - pc < width:
                    yield -1, b"", pc
                    return
                size = int.from_bytes(script[pc : pc + width], "little")
                pc += width
            if end - pc < size:
                yield -1, b"", pc
                return
        data = script[pc : pc + size]
        pc += size
        yield opcode, data, pc


def push_data(data: bytes) -> bytes:
    """The minimal push of ``data``."""
    n = len(data)
    if n < OP_PUSHDATA1:
        return bytes([n]) + data
    if n <= 0xFF:
        return bytes([OP_PUSHDATA1, n]) + data
    if n <= 0xFFFF:
        return bytes([OP_PUSHDATA2]) + n.to_bytes(2, "little") + data
    return bytes([OP_PUSHDATA4]) + n.to_bytes(4, "little") + data


def p2pkh_script(h160: bytes) -> bytes:
    return bytes([OP_DUP, OP_HASH160, 20]) + h160 + bytes([OP_EQUALVERIFY, OP_CHECKSIG])


def p2sh_script(h160: bytes) -> bytes:
    return bytes([OP_HASH160, 20]) + h160 + bytes([OP_EQUAL])


def script_for_address(address: str, network: Network | None = None) -> bytes:
    info = decode_address(address, network)
    return p2pkh_script(info.hash160) if info.kind == "p2pkh" else p2sh_script(info.hash160)


def address_from_script(script: bytes, network: Network) -> str | None:
    """The address a P2PKH or P2SH output pays, or None for other scripts."""
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return b58check_encode(bytes([network.p2pkh]) + script[3:23])
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == OP_EQUAL:
        return b58check_encode(bytes([network.p2sh[0]]) + script[2:22])
    return None


def parse_p2pkh_script_sig(script_sig: bytes) -> tuple[bytes, bytes] | None:
    """``(signature with hash type byte, public key)`` of a ``<sig> <pubkey>`` scriptSig."""
    ops = list(iter_ops(script_sig))
    if len(ops) != 2 or any(op < 0 or op > OP_PUSHDATA4 for op, _, _ in ops):
        return None
    sig, pub = ops[0][1], ops[1][1]
    if not sig or len(pub) not in (33, 65):
        return None
    return sig, pub
