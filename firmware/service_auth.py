# Service-console authentication (service.py's login): the meter's service PIN (salted,
# iterated SHA-256 in service.json, written by tools/provision_device.py) or a time-limited
# service code signed by the head-end with the meter key:
#   "<expiry_s>-<tech>-<16 hex>", hex = HMAC-SHA256(key, "service|<id>|<expiry_s>|<tech>")[:8]
# Bad attempts lock the console: after 3 fails 10 s, doubling per further fail up to 1280 s,
# on the monotonic clock and kept across reboots (service_lock.py).
import json
import service_lock

SESSION_S = 900              # a login lasts 15 min of meter time
CODE_MAX_S = 86400           # a service code valid more than a day ahead is refused
LOCK_FAILS = service_lock.LOCK_FAILS
LOCK_BASE_S = service_lock.LOCK_BASE_S
LOCK_MAX_S = service_lock.LOCK_MAX_S
LOCK_FILE = service_lock.LOCK_FILE
_root = "."


def _read_json(name):
    try:
        with open(_root + "/" + name) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _check_pin(pin):
    rec = _read_json("service.json")
    if not isinstance(rec, dict) or not isinstance(rec.get("pin_sha256"), str):
        raise ValueError("no service PIN on this meter: use a service code")
    import hashlib
    from binascii import hexlify
    h = (str(rec.get("pin_salt", "")) + pin).encode()
    n = rec.get("pin_iter", 1)
    for _ in range(n if isinstance(n, int) and 0 < n <= 100000 else 1):
        h = hashlib.sha256(h).digest()
    from core.frame import equal
    return equal(hexlify(h), rec["pin_sha256"].encode())


def _check_code(code, now):
    parts = code.split("-")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[2]) != 16:
        raise ValueError("service code format is <expiry_s>-<tech>-<16 hex>")
    expiry, tech, mac = int(parts[0]), parts[1], parts[2]
    if not tech or len(tech) > 16:
        raise ValueError("technician id must be 1..16 chars")
    cfg = _read_json("config.json") or {}
    from core.frame import hmac_sha256, parse_key, equal
    from binascii import hexlify
    key = parse_key(cfg.get("key"))
    msg = ("service|%s|%d|%s" % (cfg.get("id"), expiry, tech)).encode()
    if not equal(hexlify(hmac_sha256(key, msg)[:8]), mac.lower().encode()):
        return None
    if now > expiry:
        raise ValueError("service code expired")
    if expiry - now > CODE_MAX_S:
        raise ValueError("service code valid too far ahead (meter clock wrong?)")
    return tech, min(expiry, now + SESSION_S)


def login(secret, now, root, audit, mono_s=None):
    """Return (who, until_s) or raise ValueError; audit(action, now, **f) logs attempts.
    now: the wall clock (a service code's expiry); mono_s: the monotonic clock the lockout
    runs on (service_lock.py; the wall clock only where a caller has no other)."""
    global _root
    _root = root
    mono = now if mono_s is None else mono_s
    if not isinstance(secret, str) or not 0 < len(secret) <= 64:
        raise ValueError("give the PIN or the service code as a string")
    wait = service_lock.state(root, mono)[1]
    if wait:
        raise ValueError("locked for %d s after bad logins" % wait)
    got = None
    if secret.isdigit():
        if _check_pin(secret):
            got = ("pin", now + SESSION_S)
    else:
        got = _check_code(secret, now)
    if got is None:
        n = service_lock.failed(root, mono)
        audit("login_failed", now, fails=n)
        raise ValueError("wrong PIN or service code")
    service_lock.passed(root, mono)
    return got


