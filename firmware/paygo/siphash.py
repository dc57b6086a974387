# SipHash-2-4 (Aumasson & Bernstein, 2012), the PRF under OpenPAYGO Token.
# 64-bit lanes are plain ints masked to 64 bits: MicroPython ints are arbitrary
# precision, so every sum and left shift is masked before it can grow.
# hash8() is the fast path for the only message length the token chain uses
# (8 bytes); siphash24() handles any length (the starting code hashes the key).

_M = 0xFFFFFFFFFFFFFFFF
_C0 = 0x736F6D6570736575
_C1 = 0x646F72616E646F6D
_C2 = 0x6C7967656E657261
_C3 = 0x7465646279746573


def key_words(key):
    """16-byte key -> (k0, k1), little-endian as the SipHash paper specifies."""
    if len(key) != 16:
        raise ValueError("siphash key must be 16 bytes")
    return int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")


def _rounds(v0, v1, v2, v3, n):
    M = _M
    for _ in range(n):
        v0 = (v0 + v1) & M
        v1 = ((v1 << 13) & M) | (v1 >> 51)
        v1 ^= v0
        v0 = ((v0 << 32) & M) | (v0 >> 32)
        v2 = (v2 + v3) & M
        v3 = ((v3 << 16) & M) | (v3 >> 48)
        v3 ^= v2
        v0 = (v0 + v3) & M
        v3 = ((v3 << 21) & M) | (v3 >> 43)
        v3 ^= v0
        v2 = (v2 + v1) & M
        v1 = ((v1 << 17) & M) | (v1 >> 47)
        v1 ^= v2
        v2 = ((v2 << 32) & M) | (v2 >> 32)
    return v0, v1, v2, v3


def _run(k0, k1, blocks, last):
    v0 = k0 ^ _C0
    v1 = k1 ^ _C1
    v2 = k0 ^ _C2
    v3 = k1 ^ _C3
    for m in blocks:
        v3 ^= m
        v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    v3 ^= last
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 2)
    v0 ^= last
    v2 ^= 0xFF
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


def hash8(k0, k1, m):
    """SipHash-2-4 of one 8-byte message given as its little-endian word m."""
    return _run(k0, k1, (m,), 8 << 56)


def siphash24(k0, k1, data):
    """SipHash-2-4 of bytes; returns the 64-bit result as an int (little-endian digest)."""
    n = len(data)
    full = n & ~7
    blocks = [int.from_bytes(data[i:i + 8], "little") for i in range(0, full, 8)]
    last = ((n & 0xFF) << 56) | int.from_bytes(data[full:], "little")
    return _run(k0, k1, blocks, last)
