#!/usr/bin/env python3
"""bench: boards. What a meter costs in RAM on a board, three ways, per meter kind: the
heap in use after gc.collect() once the whole app is built and its link is up (connected to
a local mosquitto), with the firmware imported
  1. from source (the compiler's output lands in the heap),
  2. from the .mpy bundle `make deploy` copies (bytecode loaded into the heap),
  3. from a ROMFS image mounted with vfs.VfsRom (bytecode runs in place; the image's own
     bytes, read into RAM here, are subtracted: on a board they are flash),
next to the image size. Then the time from start to the link up on each board under the
emulated ESP32 APIs. The unix port is 64-bit: every pointer is twice an ESP32's, so these
figures are upper bounds (docs/bench.md). Nothing here asserts a figure."""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from brokers import Broker  # noqa: E402
import build_firmware  # noqa: E402
import partition_table  # noqa: E402

MPY = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
SRC = ":".join(str(ROOT / p) for p in ("firmware", "lib", "boards/sim"))
HEAP = "1024k"

PROBE = r'''
import sys, gc
img = sys.argv[1] if len(sys.argv) > 1 else None
rom_bytes = 0
if img:
    import vfs
    data = open(img, "rb").read()
    rom_bytes = len(data)
    vfs.mount(vfs.VfsRom(data), "/rom")
    sys.path[:] = ["/rom", "/rom/lib"]
gc.collect()
import time
import app
a = app.App(".")
t_end = time.ticks_add(time.ticks_ms(), 20000)
while not a.link.up() and time.ticks_diff(t_end, time.ticks_ms()) > 0:
    a.step()
for _ in range(20):
    a.step()
up = a.link.up()
gc.collect()
print("HEAP", gc.mem_alloc() - rom_bytes, up)
a.shutdown()
'''


def probe(kind, env_path, img, uri, tmp):
    d = Path(tempfile.mkdtemp(dir=tmp))
    conf = {"id": "bench-" + kind, "kind": kind, "key": "ab" * 32, "broker": uri,
            "board": "sim", "sim_speed": 1}
    (d / "config.json").write_text(json.dumps(conf))
    (d / "probe.py").write_text(PROBE)
    env = dict(os.environ, MICROPYPATH=env_path)
    args = [MPY, "-X", "heapsize=" + HEAP, "probe.py"] + ([str(img)] if img else [])
    r = subprocess.run(args, cwd=d, env=env, capture_output=True, text=True, timeout=120)
    for line in r.stdout.splitlines():
        if line.startswith("HEAP"):
            _, n, up = line.split()
            return int(n), up == "True"
    raise SystemExit("probe failed for %s:\n%s%s" % (kind, r.stdout, r.stderr))


def boot_times(uri, tmp):
    """Start to link up per board, under the fakes (tests_host/test_board_boot.py's world)."""
    sys.path.insert(0, str(ROOT / "tests_host"))
    import test_board_boot as tb
    from headend import HeadEnd
    out = {}
    for board in sorted(tb.SCENARIOS):
        flash = Path(tempfile.mkdtemp(dir=tmp)) / "flash"
        build_firmware.build(board, flash, log=lambda *a: None)

        class B:
            pass
        b = B()
        b.uri = uri
        he = HeadEnd(uri, "meters", "b-" + board)
        t0 = time.time()
        m = tb.Meter(board, flash, b, tb.SCENARIOS[board])
        st = tb.wait_state(he, m.id, lambda o: o.get("online"), 60)
        out[board] = (time.time() - t0) if st else None
        m.stop()
        he.close()
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="bench_boards_")
    b = Broker("mosquitto").start()
    try:
        bundle, _ = build_firmware.build("sim", Path(tmp) / "sim", log=lambda *a: None)
        img = Path(tmp) / "sim.romfs"
        size = build_firmware.romfs_image(bundle, img, log=lambda *a: None)
        mpy_path = "%s:%s/lib" % (bundle, bundle)
        print("heap in use after gc.collect(), whole app with the link up (sim board, 64-bit "
              "unix port), KiB")
        print("  %-12s %10s %10s %10s   %s" % ("kind", "source", ".mpy", "ROMFS", "ROMFS/.mpy"))
        for kind in ("electricity", "water", "gas"):
            s, su = probe(kind, SRC, None, b.uri, tmp)
            m, mu = probe(kind, mpy_path, None, b.uri, tmp)
            r, ru = probe(kind, "", img, b.uri, tmp)
            flag = "" if su and mu and ru else "   (link not up in one run!)"
            print("  %-12s %10.1f %10.1f %10.1f   %.2f%s" % (kind, s / 1024, m / 1024, r / 1024,
                                                            r / m, flag))
        print("  (source and .mpy end alike once the compiler's temporaries are freed: .mpy saves "
              "the compile peak, ROMFS the bytecode itself)")
        print("ROMFS image sizes against each board's romfs partition (boards/<board>/partitions.csv):")
        print("  %-18s %7d bytes (this bench's image: also the sim world)" % ("sim", size))
        for board in ("esp32_electricity", "esp32_gas", "esp32_water"):
            bb, _ = build_firmware.build(board, Path(tmp) / board, log=lambda *a: None)
            n = build_firmware.romfs_image(bb, Path(tmp) / (board + ".romfs"), log=lambda *a: None)
            part = partition_table.romfs_size(board)
            print("  %-18s %7d bytes of %d (%.0f %%)" % (board, n, part, 100.0 * n / part))
        print("")
        print("start to link up under the emulated ESP32 APIs (boot.py + main.py from the "
              "bundle; modem boot 0.3 s and registration 0.3 s simulated), s")
        for board, t in boot_times(b.uri, tmp).items():
            print("  %-18s %s" % (board, "%.1f" % t if t is not None else "never"))
    finally:
        b.stop()


if __name__ == "__main__":
    main()
