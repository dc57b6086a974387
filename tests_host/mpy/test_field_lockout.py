# The console's bad-login lockout on the monotonic clock (firmware/service_lock.py,
# docs/field-guide.md "Technician console"): wall-clock jumps both ways neither end nor
# stretch it, and after a reboot (RAM gone, the monotonic clock restarted anywhere) the wait
# runs again in full from the boot, then ends by its own rule. Its own script: the console
# suite's 64 KiB heap has no room for it (test scripts compile from source).
from rigclock import RigClock
import json
import os
import hashlib
from binascii import hexlify
import mptest
import service
import service_auth
import service_lock
import field_rig

ROOT = "svc_lock_root"
PIN = "482916"
service.print = lambda *a, **k: None     # module globals shadow builtins


class App:
    pass


def make_app(now=1_800_000_000):
    try:
        os.mkdir(ROOT)
    except OSError:
        pass
    for n in os.listdir(ROOT):
        os.remove(ROOT + "/" + n)
    h = ("s4lt" + PIN).encode()
    for _ in range(10):
        h = hashlib.sha256(h).digest()
    with open(ROOT + "/service.json", "w") as f:
        json.dump({"pin_salt": "s4lt", "pin_iter": 10, "pin_sha256": hexlify(h).decode()}, f)
    with open(ROOT + "/config.json", "w") as f:
        json.dump({"id": "m-001", "kind": "electricity", "key": "00" * 32}, f)
    a = App()
    a.flash = ROOT
    a.clock = RigClock(now)
    a.prepay = field_rig.FakePrepay([])
    a.eventlog = None
    a.driver = field_rig.FakeDriver([], "electricity")
    a.cfg = {}
    service_lock._live.clear()       # a new app is a new boot
    service.attach(a)
    service.logout()
    return a


def _locked(a):
    e = mptest.raises(ValueError, service.login, PIN)
    mptest.true("locked" in str(e), str(e))


def _reboot(a, mono_s):
    # RAM gone (service_lock's view of this boot); the board clock restarts its mono_s
    service_lock._live.clear()
    a.clock.mono = mono_s


def test_lockout_runs_on_the_monotonic_clock_across_jumps_and_reboots():
    a = make_app()
    for _ in range(service_auth.LOCK_FAILS):
        mptest.raises(ValueError, service.login, "1111")
    # the wall clock jumps forward (a `time` op, NTP): the wait is not over
    for jump in (service_auth.LOCK_MAX_S + 1, 86400, -86400 * 3, 10 ** 6):
        a.clock.jump(a.clock.t + jump)
        _locked(a)
    a.clock.t += service_auth.LOCK_BASE_S - 1      # 9 s of real time: still locked
    _locked(a)
    a.clock.t += 1
    service.login(PIN)                             # its own rule: LOCK_BASE_S of real time
    service.logout()
    # locked again (4 more bad ones), then reboots: the wait runs again in full from each
    # boot, whatever the restarted monotonic clock or the wall clock read
    for _ in range(service_auth.LOCK_FAILS):
        mptest.raises(ValueError, service.login, "2222")
    a.clock.t += 5
    for mono in (0, a.clock.mono + 10 ** 6, 3):
        _reboot(a, mono)
        a.clock.jump(a.clock.t + (10 ** 5 if mono else -10 ** 4))
        _locked(a)
        a.clock.t += service_auth.LOCK_BASE_S - 1
        _locked(a)
    a.clock.t += 1
    service.login(PIN)
    lk = json.load(open(ROOT + "/" + service_auth.LOCK_FILE))
    mptest.eq(lk["fails"], 0)


if __name__ == "__main__":
    mptest.main(globals())
