"""Boot-guard wiring of the real app (tests_host/mpy/app_boot_rig.py) on the unix port with
the fake ESP32 machine module: watchdog fed by the app's loop, crash loop -> minimal mode
keeping gas closed, safe mode not starting the app, Ctrl-C hand-over.
Heap: the composed app loads its bytecode into the heap on the unix port (frozen in flash on
an ESP32). Measured floor of this script: passes at 260k, fails at 256k (in /tmp; the
bounded link and two-queue outbox added ~36 KiB of source to compile); it runs at 288k
(APP_HEAP), >= 8 KiB spare as the heap policy asks, also from a longer CI path."""

from conftest import APP_HEAP, ROOT, app_path, run_mpy

HEAP = APP_HEAP


def test_boot_guard_wiring_end_to_end(tmp_path):
    r = run_mpy([ROOT / "tests_host/mpy/app_boot_rig.py"], heap=HEAP, cwd=tmp_path,
                env={"MICROPYPATH": app_path()})
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [l for l in r.stdout.splitlines() if l.endswith("failed")]
    assert last and last[-1] == "8 passed, 0 failed", out
