#!/usr/bin/env python3
"""Water meter figures for `make bench`: a simulated typical household week on the real
MicroPython unix port (tests_host/mpy/water_day.py), then the battery-life model
(tools/energy_budget.py) fed with the measured awake time, wakes and sessions per day.
Prints figures only; nothing here asserts a wall time."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import energy_budget  # noqa: E402

MPY = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
PATH = ":".join(str(ROOT / p) for p in ("firmware", "lib", "boards/sim", "tests_host/mpy", "tests_host/mpy/rigs"))
HEAP = os.environ.get("WATER_HEAP", "256k")
DAYS = os.environ.get("WATER_DAYS", "7")


def main():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MICROPYPATH=PATH)
        r = subprocess.run([MPY, "-X", "heapsize=" + HEAP, str(ROOT / "tests_host/mpy/water_day.py"), DAYS],
                           cwd=d, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode:
        print(r.stdout + r.stderr)
        sys.exit(1)
    f = json.loads(r.stdout.strip().splitlines()[-1])
    reasons = {}
    for x in f["session_reasons"]:
        reasons[x] = reasons.get(x, 0) + 1
    print("typical household, %d simulated days (%d L billed), unix port, heap %s:" % (f["days"], f["register_l"], HEAP))
    print("  wakes per day                 %.1f (15-min timer + 20 L pulse wakes)" % f["wakes_day"])
    print("  radio sessions per day        %.2f  %s" % (f["sessions_day"], reasons))
    print("  uplink bytes per day          %d (target <= 1024; MQTT app bytes: connect, state, events, tele)" % f["uplink_bytes_day"])
    print("  awake ms per wake (in-process) p50 %.3f  p99 %.3f" % (f["awake_ms_p50"], f["awake_ms_p99"]))
    print("  awake ms per wake as a deep-sleep reboot (rebuild from flash + RTC) p50 %.3f" % f["boot_wake_ms_p50"])
    print("  flash writes per day          %.1f records, %d bytes (core batches of 20 L + water record)" % (f["flash_writes_day"], f["flash_bytes_day"]))
    print("  RTC memory used               %d of 2048 bytes" % f["rtc_bytes"])
    print("  heap in use, whole stack from source  %d bytes (frozen on an ESP32)" % f["heap_bytes"])
    print()
    kw = {"awake_ms": f["boot_wake_ms_p50"], "wakes_day": f["wakes_day"], "sessions_day": f["sessions_day"]}
    for radio in ("sim7080g", "wifi"):
        energy_budget.report(radio=radio, **kw)
        print()


if __name__ == "__main__":
    main()
