# Technician console (firmware/service.py) on the real core facade (core/prepay.py,
# core/store.py, core/eventlog.py) with a test-only driver/board: auth by PIN and by
# head-end service code, lockout, audit events, 80-column output, generated bad secrets.
# (core/prepay.py does not fit a 64 KiB heap from source beside this script yet, so the
# facade is field_rig.FakePrepay, which follows docs/architecture.md's contract.)
from rigclock import RigClock
import gc
import service
import service_auth
gc.collect()
import os
import json
import random
import hashlib
from binascii import hexlify

import mptest
from core.frame import hmac_sha256
import field_rig

ROOT = "svc_root"
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
PIN = "482916"
OUT = []


def _print(*a, **k):
    OUT.append(" ".join(str(x) for x in a))


service.print = _print     # capture the console's output (module globals shadow builtins)


class Clock(RigClock):
    def __init__(self, t):
        RigClock.__init__(self, t)


class Part:
    def __init__(self, v):
        self.v = v

    def value(self):
        return self.v


class Board:
    def __init__(self):
        self.button = Part(1)
        self.led = Part(0)
        self.relay_fb = Part(1)


class App:
    pass


def pin_record(pin, salt="a1b2c3d4", n=1000):
    h = (salt + pin).encode()
    for _ in range(n):
        h = hashlib.sha256(h).digest()
    return {"pin_salt": salt, "pin_iter": n, "pin_sha256": hexlify(h).decode()}


def code(expiry, tech="T42", key=KEY, mid="m-001"):
    from binascii import unhexlify
    msg = ("service|%s|%d|%s" % (mid, expiry, tech)).encode()
    return "%d-%s-%s" % (expiry, tech, hexlify(hmac_sha256(unhexlify(key), msg)[:8]).decode())


def make_app(now=1_800_000_000, pin=True):
    try:
        os.mkdir(ROOT)
    except OSError:
        pass
    for n in os.listdir(ROOT):
        os.remove(ROOT + "/" + n)
    with open(ROOT + "/config.json", "w") as f:
        json.dump({"id": "m-001", "kind": "electricity", "key": KEY}, f)
    if pin:
        with open(ROOT + "/service.json", "w") as f:
            json.dump(pin_record(PIN), f)
    a = App()
    a.flash = ROOT
    a.clock = Clock(now)
    order = []
    a.prepay = field_rig.FakePrepay(order)
    a.eventlog = None
    a.driver = field_rig.FakeDriver(order, "electricity")
    a.board = Board()
    a.cfg = {}
    import service_lock
    service_lock._live.clear()       # a new app is a new boot: RAM state gone
    service.attach(a)
    service.logout()
    OUT.clear()
    return a


def svc_events(a):
    return [e for e in a.prepay.pending_events() if e["type"] == "service"]


def test_status_and_events_fit_80_columns():
    a = make_app()
    for i in range(30):
        a.prepay.emit("note", a.clock.t, text="x" * (i * 5))
    service.status()
    mptest.eq(service.events(12), 12)
    service.history()
    mptest.true(len(OUT) >= 20, "%d lines" % len(OUT))
    for l in OUT:
        mptest.true(len(l) <= 80, "line of %d: %s" % (len(l), l))
    mptest.true(any(l.startswith("balance") for l in OUT))


def test_clear_alarm_needs_login():
    a = make_app()
    a.prepay.alarm("tamper", a.clock.t, latch=True)
    mptest.raises(service.Denied, service.clear, "tamper")
    mptest.true("tamper" in a.prepay.alarms, "unchanged without login")
    mptest.raises(ValueError, service.login, "000000")
    mptest.raises(service.Denied, service.clear, "tamper")
    service.login(PIN)
    service.clear("tamper")
    mptest.true("tamper" not in a.prepay.alarms)
    acts = [e["action"] for e in svc_events(a)]
    mptest.eq(acts, ["login_failed", "login", "clear"])
    mptest.eq(svc_events(a)[-1]["by"], "pin")


def test_session_expires():
    a = make_app()
    service.login(PIN)
    a.clock.t += service_auth.SESSION_S + 1
    mptest.raises(service.Denied, service.supply, "off")


def test_service_code_valid_expired_forged_too_far():
    a = make_app(pin=False)
    now = a.clock.t
    mptest.raises(ValueError, service.login, "1234")            # no PIN on this meter
    service.login(code(now + 3600))
    mptest.eq(svc_events(a)[-1]["by"], "T42")
    service.logout()
    mptest.raises(ValueError, service.login, code(now - 1))      # expired
    mptest.raises(ValueError, service.login, code(now + 2 * 86400))
    bad = code(now + 3600, key="ff" * 32)
    mptest.raises(ValueError, service.login, bad)
    other = code(now + 3600, mid="m-002")                       # another meter's code
    mptest.raises(ValueError, service.login, other)


def test_lockout_doubles_and_survives_console_reload():
    a = make_app()
    for i in range(service_auth.LOCK_FAILS):
        mptest.raises(ValueError, service.login, "1111")
    e = mptest.raises(ValueError, service.login, PIN)            # locked even for the right PIN
    mptest.true("locked" in str(e))
    a.clock.t += service_auth.LOCK_BASE_S + 1
    mptest.raises(ValueError, service.login, "2222")             # 4th fail: 20 s
    a.clock.t += service_auth.LOCK_BASE_S + 1
    mptest.true("locked" in str(mptest.raises(ValueError, service.login, PIN)))
    a.clock.t += service_auth.LOCK_BASE_S
    service.login(PIN)
    lk = json.load(open(ROOT + "/" + service_auth.LOCK_FILE))
    mptest.eq(lk["fails"], 0)


def test_generated_bad_secrets_never_log_in():
    a = make_app()
    random.seed(7)
    alphabet = "0123456789abcdef-T"
    good = code(a.clock.t + 600)
    for i in range(300):
        a.clock.t += 2000          # stay out of the lockout
        kind = i % 3
        if kind == 0:
            s = "".join(alphabet[random.getrandbits(5) % len(alphabet)]
                        for _ in range(1 + random.getrandbits(5)))
        elif kind == 1:           # one character of a valid code flipped
            j = random.getrandbits(8) % len(good)
            c = "0" if good[j] != "0" else "1"
            s = good[:j] + c + good[j + 1:]
        else:
            s = str(random.getrandbits(24))
        if s == PIN or s == good:
            continue
        try:
            service.login(s)
        except ValueError:
            pass
        mptest.true(not service._logged_in(a.clock.t), "logged in with %r" % s)
    mptest.raises(service.Denied, service.supply, "off")


def test_supply_actions_respect_safety_latch():
    a = make_app()
    service.login(PIN)
    mptest.eq(service.supply("off"), "off_remote")
    a.prepay.alarm("tamper", a.clock.t, latch=True)
    mptest.eq(service.supply("on"), "off_safety")               # never bypasses the latch
    mptest.raises(ValueError, service.supply, "bypass")
    acts = [e.get("action2") for e in svc_events(a) if e["action"] == "supply"]
    mptest.eq(acts, ["off", "on"])


def test_selftest_reads_parts_and_config_validates():
    a = make_app()
    mptest.true(service.selftest())
    mptest.true(any("relay_fb" in l for l in OUT))
    mptest.raises(service.Denied, service.config, report_s=30)
    service.login(PIN)
    a.prepay.cmd = {}                  # the record's command part, where the shell's keys live
    service.config(report_s=30)
    mptest.eq(a.prepay.cmd["app"]["report_s"], 30)
    mptest.raises(ValueError, service.config, report_s=5)       # 10..86400, as the config op
    before = json.dumps(a.prepay.cfg)
    mptest.raises(ValueError, service.config, no_such_key=1)
    mptest.eq(json.dumps(a.prepay.cfg), before)


mptest.main(globals())
