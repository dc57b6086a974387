"""SIGINT at random instants (boot-wiring issue): the real firmware (main.py on the unix port,
sim electricity board at sim_speed 1000, so the loop allocates flat out, the worst case) is
interrupted TRIALS times (default 50; SOAK=n multiplies) at a random instant, a third of the
trials with a second SIGINT shortly after. Every flash dir must load afterwards with the
ledger intact: the prepay record loads, the seed credit is still credited exactly once (a
redelivery is a dup), the balance never exceeds what was credited, the outbox loads.
Every run that exits must exit 0 without a traceback (no "heap is locked").

Known residual (printed, not hidden): the unix port raises KeyboardInterrupt from the C
signal handler (MICROPY_ASYNC_KBD_INTR); when it lands inside the GC's mutex the process
deadlocks in C before any Python runs (measured ~4 % of SIGINTs into an allocating loop).
Such a run is killed after HANG_S, which is a power cut: the test still requires its flash
to load intact (core/store.py A/B slots). Likewise a run the port itself crashes (SIGSEGV
seen once, with a second SIGINT during shutdown) is counted and its flash checked."""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import APP_HEAP, MICROPYTHON, ROOT, app_env, app_main

sys.path.insert(0, str(ROOT / "tools"))
from headend import provision  # noqa: E402

HEAP = APP_HEAP
TRIALS = 50 * int(os.environ.get("SOAK", "1"))
HANG_S = 10
START_S = 1800000000
SEED_MINOR = 100000
SEED = """
from core.store import Store
from core.prepay import Prepay
import json
c = json.load(open(%(d)r + "/config.json"))
cfg = dict(c.get("config") or {}); cfg["tariff"] = c["tariff"]
p = Prepay(Store(%(d)r), "electricity", cfg, %(t)d)
p.recharge("seed", %(m)d, %(t)d, via="remote")
p.save()
"""
CHECK = """
import json, sys
from core.store import Store
from core.prepay import Prepay
from link.outbox import Outbox
for d in %(dirs)r:
    c = json.load(open(d + "/config.json"))
    cfg = dict(c.get("config") or {}); cfg["tariff"] = c["tariff"]
    st = Store(d)
    rec = st.load("prepay")
    if rec is None:
        print("BAD", d, "prepay record does not load", st.reasons.get("prepay")); continue
    p = Prepay(st, "electricity", cfg, %(t)d + 10 ** 6)
    again = p.recharge("seed", %(m)d, %(t)d, via="remote")
    ob = Outbox(d, st)
    clk = st.load("clock")
    print("OK", d, p.balance_minor, again, len(ob), clk["t"] if clk else None)
"""


def before_interpreter(rc, out):
    # .venv/bin/micropython is a CPython launcher of the port (micropython_unix); a SIGINT
    # before it hands over kills it (no handler yet) or raises in CPython's own imports
    return (rc == -signal.SIGINT and not out) or (
        "micropython_unix" in out and "main.py\"" not in out)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port    # nothing listens: the link is refused and backs off


def trial(tmp, i, rnd):
    d = str(tmp / ("m%02d" % i))
    provision(d, "s-%d" % i, "electricity", "mqtt://127.0.0.1:%d" % free_port(), 1000,
              extra={"sim_start": START_S, "backoff_max_s": 1, "tariff": {"price": 250000},
                     "sim_script": {"once": [[START_S + 2, {"load_w": 2000, "pf": 0.7}]]}})
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=" + HEAP, "-c",
                        SEED % {"d": d, "t": START_S, "m": SEED_MINOR}],
                       env=app_env(), capture_output=True, text=True, cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + HEAP, app_main(), d],
                         env=app_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(rnd.uniform(0.6, 3.0))
    p.send_signal(signal.SIGINT)
    twice = rnd.random() < 0.33
    if twice:
        time.sleep(rnd.uniform(0, 0.05))
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    try:
        out = p.communicate(timeout=HANG_S)[0]
        hung = False
    except subprocess.TimeoutExpired:
        p.kill()
        out = p.communicate()[0]
        hung = True
    return d, p.returncode, hung, out, twice


def test_sigint_at_random_instants_keeps_the_ledger(tmp_path):
    rnd = random.Random(int(os.environ.get("SIGINT_SEED", "7")))
    seeds = [random.Random(rnd.random()) for _ in range(TRIALS)]
    with ThreadPoolExecutor(4) as ex:
        runs = list(ex.map(lambda a: trial(tmp_path, *a), enumerate(seeds)))
    hung = [r for r in runs if r[2]]
    torn = [r for r in runs if "mid-update" in r[3]]
    early = [r for r in runs if not r[2] and before_interpreter(r[1], r[3])]
    died = [r for r in runs if not r[2] and not before_interpreter(r[1], r[3]) and r[1] < 0
            and not (r[4] and r[1] == -signal.SIGINT)]
    for d, rc, h, out, twice in runs:
        if h or before_interpreter(rc, out) or (rc < 0 and rc != -signal.SIGINT):
            continue       # hung or crashed in C (see above), or killed before MicroPython ran
        assert "heap is locked" not in out, out
        assert "Traceback" not in out, out
        # a second SIGINT may arrive after the port has exited and restored SIG_DFL
        assert rc == 0 or (twice and rc == -signal.SIGINT), (rc, out)
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=" + HEAP, "-c",
                        CHECK % {"dirs": [x[0] for x in runs], "t": START_S, "m": SEED_MINOR}],
                       env=app_env(), capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [l.split() for l in r.stdout.splitlines()]
    assert len(lines) == TRIALS and all(l[0] == "OK" for l in lines), r.stdout
    balances = [int(l[2]) for l in lines]
    for l in lines:
        assert l[3] == "False", "seed credit applied twice in " + l[1]
        assert int(l[2]) <= SEED_MINOR, l
    spent = sum(1 for b in balances if b < SEED_MINOR)
    print("\nSIGINT trials: %d, exited cleanly %d, torn (ledger left at last save) %d, "
          "hung in C and killed %d, crashed in C (signal) %d, killed before the interpreter "
          "ran %d; ledgers that recorded use %d"
          % (TRIALS, TRIALS - len(hung) - len(early) - len(died), len(torn), len(hung),
             len(died), len(early), spent))
    assert spent > TRIALS // 4, "the meter barely ran: the test would not exercise the ledger"
