"""The host's handle on one real meter for the whole-meter stateful test: a long-lived
`micropython` process running tests_host/mpy/stateful_rig.py on a LittleFS flash image in a
work directory, plus what a head-end holds: the meter key (signed command frames), the
OpenPAYGO key and count (tools/tokens.py's reference library), the service-code secret.

A reboot is a new process on the same flash image: RAM is gone, the flash is what it was
when the old process stopped (at a clean shutdown, a reset, a crash or a power cut)."""
import hashlib
import hmac
import json
import os
import select
import subprocess
import time

from openpaygo import OpenPAYGOTokenEncoder, TokenType

from conftest import MICROPYTHON, ROOT

RIG = ROOT / "tests_host" / "mpy" / "stateful_rig.py"
HEAP = os.environ.get("STATEFUL_HEAP", "512k")
T0 = 1800000000                     # 2027-01-15, a Friday: the meters' first boot
KEY_HEX = "5a" * 32
PAYGO_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PAYGO_START = 424242424
PAYGO_UNIT = 100
ANSWER_S = 120                      # an operation that takes longer than this hangs

# machine.reset_cause() values of the ESP32 port (tests_host/mpy/fakes/machine.py)
PWRON, HARD, WDT, DEEPSLEEP, SOFT = 1, 2, 3, 4, 5

TARIFF = {"electricity": {"price": 250000, "standing_minor_per_day": 20},
          "water": {"price": 2000000, "standing_minor_per_day": 10},
          "gas": {"price": 1000000, "standing_minor_per_day": 10}}


def config_json(kind):
    """config.json of the meter under test (docs/field-guide.md, provisioning)."""
    cfg = {}
    if kind == "water":
        cfg["session_report_s"] = 3600       # hourly sessions: commands arrive within the hour
    return {"id": "st-" + kind[0], "kind": kind, "key": KEY_HEX,
            "broker": "mqtt://127.0.0.1:1883", "board": "sim", "sim_speed": 50,
            "sim_start": T0, "backoff_max_s": 5, "keepalive_s": 30, "config": cfg,
            "tariff": TARIFF[kind],
            "paygo": {"key": PAYGO_KEY, "start": PAYGO_START, "unit": PAYGO_UNIT}}


def sign(body):
    mac = hmac.new(bytes.fromhex(KEY_HEX), body, hashlib.sha256).hexdigest().encode()
    return body + b"\n" + mac


def frame(meter_id, cid, seq, op, args, exp=None, key_ok=True):
    c = {"id": cid, "meter": meter_id, "seq": seq, "op": op, "args": args}
    if exp is not None:
        c["exp"] = exp
    body = json.dumps(c).encode()
    return sign(body) if key_ok else body + b"\n" + b"0" * 64


def service_code(meter_id, now_s, tech="qa"):
    """A head-end service code (firmware/service_auth.py): valid for an hour."""
    expiry = now_s + 3600
    msg = ("service|%s|%d|%s" % (meter_id, expiry, tech)).encode()
    mac = hmac.new(bytes.fromhex(KEY_HEX), msg, hashlib.sha256).digest()[:8].hex()
    return "%d-%s-%s" % (expiry, tech, mac)


class Tokens:
    """The head-end side of OpenPAYGO for this meter (what tools/tokens.py keeps)."""

    def __init__(self):
        self.count = 0
        self.issued = []             # (count, code, amount_minor, kind)

    def add(self, value):
        self.count, code = OpenPAYGOTokenEncoder.generate_token(
            secret_key=PAYGO_KEY, count=self.count, value=value, token_type=TokenType.ADD_TIME,
            starting_code=PAYGO_START, extended_token=value > 995)
        self.issued.append((self.count, code, value * PAYGO_UNIT, "add"))
        return self.issued[-1]

    def sync(self):
        self.count, code = OpenPAYGOTokenEncoder.generate_token(
            secret_key=PAYGO_KEY, count=self.count, token_type=TokenType.COUNTER_SYNC,
            starting_code=PAYGO_START)
        self.issued.append((self.count, code, 0, "sync"))
        return self.issued[-1]


class Meter:
    """One meter process at a time on `workdir`'s flash image."""

    def __init__(self, kind, workdir, mpypath):
        self.kind = kind
        self.workdir = str(workdir)
        self.mpypath = mpypath
        self.conf = config_json(kind)
        self.id = self.conf["id"]
        self.proc = None
        self.printed = []            # lines the meter printed (console output, tracebacks)
        self.boots = 0

    def start(self, cause, rtc, mono, vms, broker_up, had_record, phys=None):
        """phys: the physical parts as the last run left them (valve position, relay)."""
        run = {"conf": self.conf, "cause": cause, "rtc": rtc, "mono": mono, "vms": vms,
               "broker_up": broker_up, "had_record": had_record, "phys": phys or {}}
        with open(os.path.join(self.workdir, "run.json"), "w") as f:
            json.dump(run, f)
        env = dict(os.environ, MICROPYPATH=self.mpypath)
        self.proc = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + HEAP, str(RIG), self.workdir],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        self._buf = b""
        self.boots += 1
        return self._answer()

    def send(self, op):
        try:
            self.proc.stdin.write((json.dumps(op) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        return self._answer()

    def _line(self, deadline):
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b""
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line + b"\n"

    def _answer(self):
        deadline = time.monotonic() + ANSWER_S
        while True:
            line = self._line(deadline)
            if line is None:
                self.kill()
                return {"end": "hang", "detail": "no answer in %d s" % ANSWER_S}
            if not line:
                self.proc.wait()
                return {"end": "died", "detail": "exit %s: %s" % (
                    self.proc.returncode, " | ".join(self.printed[-8:]))}
            line = line.decode(errors="replace").rstrip("\n")
            if line.startswith("@@ "):
                a = json.loads(line[3:])
                if "end" in a:
                    self.proc.wait()
                return a
            self.printed.append(line)
            del self.printed[:-200]

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            for s in (self.proc.stdin, self.proc.stdout):
                try:
                    s.close()
                except OSError:
                    pass
        self.proc = None
