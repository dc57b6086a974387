# OpenPAYGO Token decoding, written from the public specification
# (github.com/EnAccess/OpenPAYGO-Token, docs "Token generation and decoding").
#
# A token is the starting code hashed forward `count` times with SipHash-2-4,
# with its low decimal digits replaced by (value + starting code) mod 10^n:
#   standard: 9 digits, 3 value digits (0..995 add/set; 998 disable; 999 sync)
#   extended: 12 digits, 6 value digits (0..999999), no special values
#   restricted digit set (a 4-key keypad): each key 1..4 carries 2 bits, so a
#   standard token is 15 keys (30 bits) and an extended one 20 keys (40 bits).
# Even counts add value, odd counts set it (or carry 998 / 999).
#
# Anti-replay (spec, and openpaygo 0.6.3's decoder constants):
#   - counts up to last + 64 ahead are searched (last + 100 for a counter sync);
#   - an ADD token at most 15 below the last count is accepted once if unused;
#   - anything else that matches the chain is ALREADY_USED, apart from INVALID.
from paygo import siphash

JUMP = 64         # spec MAX_TOKEN_JUMP
JUMP_SYNC = 100   # spec MAX_TOKEN_JUMP_COUNTER_SYNC
OLDER = 16        # spec MAX_UNUSED_OLDER_TOKENS: counts last-15 .. last may be late
MAX_ADD_STD = 995  # spec MAX_ACTIVATION_VALUE (standard)
DISABLE_VALUE = 998
SYNC_VALUE = 999

ADD = "add"
SET = "set"
DISABLE = "disable"
SYNC = "sync"
USED = "already_used"
INVALID = "invalid"

_MASK32 = 0xFFFFFFFF


def parse(digits, restricted=False):
    """Keypad string -> (code int, extended bool). ValueError on a malformed entry."""
    if not isinstance(digits, str):
        raise ValueError("token must be a string of digits")
    n = len(digits)
    if restricted:
        if n not in (15, 20):
            raise ValueError("token length %d (restricted keypad: 15 or 20 keys)" % n)
        code = 0
        for ch in digits:
            d = ord(ch) - 49  # '1' -> 0 .. '4' -> 3
            if d < 0 or d > 3:
                raise ValueError("token key %r (restricted keypad: 1-4 only)" % ch)
            code = (code << 2) | d
        return code, n == 20
    if n not in (9, 12):
        raise ValueError("token length %d (9 or 12 digits)" % n)
    code = 0
    for ch in digits:
        d = ord(ch) - 48
        if d < 0 or d > 9:
            raise ValueError("token character %r is not a digit" % ch)
        code = code * 10 + d
    return code, n == 12


def _bswap32(c):
    return ((c & 0xFF) << 24) | ((c & 0xFF00) << 8) | ((c >> 8) & 0xFF00) | ((c >> 24) & 0xFF)


def _fold30(h):
    # hi ^ lo of the 64-bit hash, bits 2..31 kept: a 30-bit value folded below 10^9
    t = (((h >> 32) ^ h) & _MASK32) >> 2
    if t > 999999999:
        t -= 73741825
    return t


def next_std(code, k0, k1):
    """Next standard code: the message is the code as 4 big-endian bytes, twice."""
    w = _bswap32(code & _MASK32)
    return _fold30(siphash.hash8(k0, k1, w | (w << 32)))


def next_ext(code, k0, k1):
    """Next extended code: the message is the code as 8 big-endian bytes."""
    w = _bswap32((code >> 32) & _MASK32) | (_bswap32(code & _MASK32) << 32)
    t = siphash.hash8(k0, k1, w) >> 24  # top 40 bits
    if t > 999999999999:
        t -= 99511627777
    return t


def starting_code(key):
    """The spec's default starting code: the key hashed with itself."""
    k0, k1 = siphash.key_words(key)
    return _fold30(siphash.siphash24(k0, k1, key))


def classify(count, value, extended):
    if not count & 1:
        return ADD
    if not extended and value == SYNC_VALUE:
        return SYNC
    if not extended and value == DISABLE_VALUE:
        return DISABLE
    return SET


def count_ok(count, kind, last, used, sync_once=False):
    """The spec's acceptance rule for a chain match at `count`. sync_once: a SYNC code is
    held to the ADD rule (new, or unused within the window) instead of the spec's
    `count > last - 64`, under which the same old SYNC code is accepted again and again."""
    if kind == SYNC and not sync_once:
        return count > last - JUMP
    if count > last:
        return True
    return kind in (ADD, SYNC) and count > last - OLDER and count not in used


def decode(code, extended, k0, k1, start, last, used, sync_once=False):
    """Search the chain for `code`. Returns (kind, value, count): kind is one of
    ADD/SET/DISABLE/SYNC, or USED / INVALID with value and count None.
    Costs one SipHash per count up to last + 64 (the spec's search).
    sync_once=False is the reference decoder's rule (tests compare against it)."""
    mod = 1000000 if extended else 1000
    base = code % mod
    value = (base - start % mod) % mod
    top = last + (JUMP_SYNC if (not extended and value == SYNC_VALUE) else JUMP)
    step = next_ext if extended else next_std
    cur = start - start % mod + base
    seen = False
    for count in range(top + 1):
        if cur - cur % mod + base == code:
            kind = classify(count, value, extended)
            if count_ok(count, kind, last, used, sync_once):
                return kind, value, count
            seen = True  # authentic but spent: keep searching, a later count may match
        if count < top:
            cur = step(cur, k0, k1)
    return (USED if seen else INVALID), None, None


def mark_used(last, used, count, kind):
    """New (last, used) after accepting `count`: used holds the spent counts in
    last-15 .. last. A non-ADD token spends the whole window (spec)."""
    new_last = count if count > last else last
    lo = new_last - OLDER + 1
    if kind != ADD:
        return new_last, list(range(max(lo, 0), new_last + 1))
    out = [c for c in used if lo <= c <= new_last and c != count]
    out.append(count)
    out.sort()
    return new_last, out
