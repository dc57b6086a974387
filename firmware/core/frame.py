# Protocol v1 command frame: BODY + b"\n" + 64 lowercase hex HMAC-SHA256(key, BODY).
# micropython-hmac imports `warnings` and does not run on the 1.29 unix port (no `warnings` module), so HMAC is
# built here on hashlib.sha256 (RFC 2104, block size 64).
import hashlib
from binascii import hexlify

MAX_FRAME = 2048   # docs/protocol.md §2: a payload over 2048 bytes is rejected unread
_BLOCK = 64
_NL = 10


def hmac_sha256(key, msg):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    for i in range(_BLOCK):
        k = key[i] if i < len(key) else 0
        ipad[i] = k ^ 0x36
        opad[i] = k ^ 0x5C
    inner = hashlib.sha256(ipad)
    inner.update(msg)
    outer = hashlib.sha256(opad)
    outer.update(inner.digest())
    return outer.digest()


def mac_hex(key, body):
    return hexlify(hmac_sha256(key, body))


def equal(a, b):
    # constant time in the content: every byte is compared whatever the first difference
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0


def sign(key, body):
    return body + b"\n" + mac_hex(key, body)


def parse_key(key_hex):
    """The meter key from config.json: 64 hex chars -> 32 bytes (ValueError otherwise)."""
    if not isinstance(key_hex, str) or len(key_hex) != 64:
        raise ValueError("key must be 64 hex characters")
    try:
        from binascii import unhexlify
        return unhexlify(key_hex)
    except Exception:
        raise ValueError("key must be 64 hex characters")


def open_frame(key, payload):
    """Return the BODY bytes of a verified frame, or raise ValueError("too_large"|"bad_mac").
    Nothing in the payload is parsed before the MAC verifies."""
    if len(payload) > MAX_FRAME:
        raise ValueError("too_large")
    cut = -1
    for i in range(len(payload) - 1, -1, -1):   # split at the LAST newline
        if payload[i] == _NL:
            cut = i
            break
    if cut < 0:
        raise ValueError("bad_mac")
    body = payload[:cut]
    mac = payload[cut + 1:]
    # mac_hex is lowercase; an uppercase or short MAC simply does not compare equal
    if not equal(mac_hex(key, body), mac):
        raise ValueError("bad_mac")
    return bytes(body)
