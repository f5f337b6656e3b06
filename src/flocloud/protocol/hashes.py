"""Hash functions used by FLO (identical to Bitcoin's): SHA-256, double SHA-256, HASH160.

RIPEMD-160 comes from hashlib when OpenSSL provides it; otherwise a pure-Python
implementation (checked against hashlib's in the tests) is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

__all__ = ["hash160", "hash160_with_prefix", "ripemd160", "sha256", "sha256d"]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _ripemd160_pure(data: bytes) -> bytes:
    """RIPEMD-160 in pure Python (fallback only; ~100 µs per call)."""
    # Constants from the RIPEMD-160 specification (Dobbertin, Bosselaers, Preneel).
    rl = [
        *range(16),
        7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
        3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
        1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
        4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13,
    ]  # fmt: skip
    rr = [
        5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
        6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
        15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
        8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
        12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11,
    ]  # fmt: skip
    sl = [
        11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
        7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
        11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
        11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
        9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6,
    ]  # fmt: skip
    sr = [
        8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
        9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
        9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
        15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
        8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11,
    ]  # fmt: skip
    kl = [0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E]
    kr = [0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000]
    mask = 0xFFFFFFFF

    def f(j: int, x: int, y: int, z: int) -> int:
        if j < 16:
            return x ^ y ^ z
        if j < 32:
            return (x & y) | (~x & mask & z)
        if j < 48:
            return (x | (~y & mask)) ^ z
        if j < 64:
            return (x & z) | (y & (~z & mask))
        return x ^ (y | (~z & mask))

    def rol(x: int, n: int) -> int:
        return ((x << n) | (x >> (32 - n))) & mask

    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    msg = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + (8 * len(data)).to_bytes(8, "little")
    for off in range(0, len(msg), 64):
        x = [int.from_bytes(msg[off + 4 * i : off + 4 * i + 4], "little") for i in range(16)]
        al, bl, cl, dl, el = h
        ar, br, cr, dr, er = h
        for j in range(80):
            t = rol((al + f(j, bl, cl, dl) + x[rl[j]] + kl[j // 16]) & mask, sl[j]) + el
            al, el, dl, cl, bl = el, dl, rol(cl, 10), bl, t & mask
            t = rol((ar + f(79 - j, br, cr, dr) + x[rr[j]] + kr[j // 16]) & mask, sr[j]) + er
            ar, er, dr, cr, br = er, dr, rol(cr, 10), br, t & mask
        t = (h[1] + cl + dr) & mask
        h[1] = (h[2] + dl + er) & mask
        h[2] = (h[3] + el + ar) & mask
        h[3] = (h[4] + al + br) & mask
        h[4] = (h[0] + bl + cr) & mask
        h[0] = t
    return b"".join(v.to_bytes(4, "little") for v in h)


def _probe_hashlib_ripemd160() -> bool:
    try:
        hashlib.new("ripemd160", b"")
    except ValueError:
        return False
    return True


_HAVE_HASHLIB_RIPEMD = _probe_hashlib_ripemd160()


def ripemd160(data: bytes) -> bytes:
    if _HAVE_HASHLIB_RIPEMD:
        return hashlib.new("ripemd160", data).digest()
    return _ripemd160_pure(data)


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256: the 20-byte payload of a P2PKH address."""
    return ripemd160(hashlib.sha256(data).digest())


def hash160_with_prefix(prefix: bytes, suffixes: Iterable[bytes]) -> Iterator[bytes]:
    """``hash160(prefix + s)`` for each suffix, hashing the shared prefix once (placement
    hashes millions of positions this way)."""
    if not _HAVE_HASHLIB_RIPEMD:
        yield from (hash160(prefix + s) for s in suffixes)
        return
    head, rmd = hashlib.sha256(prefix), hashlib.new("ripemd160")
    for suffix in suffixes:
        h = head.copy()
        h.update(suffix)
        r = rmd.copy()
        r.update(h.digest())
        yield r.digest()
