# The update signature check: RSASSA-PKCS1-v1_5 with SHA-256 and a 2048-bit key
# (RFC 8017 §8.2.2), on MicroPython's big integers: one modular exponentiation and a
# comparison with the one valid encoding of the digest (EMSA-PKCS1-v1_5, RFC 8017 §9.2).
# Building the expected encoding and comparing it whole, instead of parsing the decrypted
# block, is what RFC 8017 recommends: no padding or DER parser to fool (the Bleichenbacher
# 2006 forgeries against lenient parsers). The meter holds only the public modulus; the
# exponent is fixed at 65537 (F4), what `cryptography` and OpenSSL generate.
from binascii import unhexlify

E = 65537
BITS = 2048
K = BITS // 8            # signature and modulus length in bytes
# DER of DigestInfo{sha256, NULL} before the 32-byte digest (RFC 8017 §9.2, note 1)
_PREFIX = unhexlify("3031300d060960864801650304020105000420")
_HEX = "0123456789abcdef"


def parse_pub(hex_n):
    """A public modulus from config.json: 512 lowercase hex characters, exactly 2048 bits,
    odd. -> int; ValueError otherwise."""
    if not isinstance(hex_n, str) or len(hex_n) != 2 * K:
        raise ValueError("ota key must be 512 hex characters (RSA-2048 modulus)")
    for c in hex_n:
        if c not in _HEX:
            raise ValueError("ota key must be lowercase hex")
    n = int.from_bytes(unhexlify(hex_n), "big")
    if n >> (BITS - 1) != 1 or not n & 1:
        raise ValueError("ota key is not a 2048-bit RSA modulus")
    return n


def encoded(digest):
    """EMSA-PKCS1-v1_5 encoding of a SHA-256 digest for a 2048-bit key."""
    return b"\x00\x01" + b"\xff" * (K - 3 - len(_PREFIX) - 32) + b"\x00" + _PREFIX + digest


def verify(n, digest, sig):
    """True iff sig is a valid signature by modulus n over the SHA-256 digest."""
    if len(digest) != 32 or len(sig) != K:
        return False
    s = int.from_bytes(sig, "big")
    if not 0 < s < n:
        return False
    return pow(s, E, n).to_bytes(K, "big") == encoded(digest)


def verify_any(keys, digest, sig):
    """keys: the meter's moduli (two during a key rotation). -> index of the key that
    verifies, or -1."""
    for i in range(len(keys)):
        if verify(keys[i], digest, sig):
            return i
    return -1
