#!/usr/bin/env python3
"""`make native`: two MicroPython unix ports built from source, with the firmware frozen in.

    build/native/micropython32  32-bit (MICROPY_FORCE_32BIT=1): 31-bit small ints, 4-byte
                                pointers, firmware bytecode in the binary and not in the heap,
                                like a frozen ESP32 image: the closest heap figure this
                                machine can give (make bench, tools/bench_heap.py)
    build/native/micropython    native 64-bit, the same frozen modules: the fleet's meter
                                (a few hundred KB of private memory per process)
    build/native/main.py        firmware/main.py, run from a folder without firmware sources
                                (a script's own folder comes before .frozen in sys.path)

Both freeze build/sim-modules.py, the manifest `make firmware BOARD=sim` writes (firmware,
sim board, umqtt.simple), compiled by the source tree's own mpy-cross, and build without
TLS, btree and ffi (the trimmed tree has no mbedtls, berkeley-db or libffi). Run them with
MICROPYPATH=.frozen. TLS keeps being tested on the PyPI port.

The source tree is MPY_SRC (default ../shared/micropython next to the project): either a
MicroPython checkout (v1.28.0 tested) or a folder holding a micropython-*.tar.xz, which is
extracted under build/native/src (never committed). Every build output goes under
build/native/, so a checkout is left untouched.

--refresh (make test): rebuild only when the binaries exist and the frozen firmware changed;
without binaries say how to get them and succeed, so everything else still works.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import build_firmware  # noqa: E402

OUT = ROOT / "build" / "native"
BIN32 = OUT / "micropython32"
BIN64 = OUT / "micropython"
MAIN = OUT / "main.py"
STAMP = OUT / "stamp.json"
DEFAULT_SRC = ROOT.parent / "shared" / "micropython"
BOARD = "sim"
# no TLS (mbedtls), btree (berkeley-db) or ffi (libffi): the trimmed tree lacks them
FLAGS = ["MICROPY_PY_FFI=0", "MICROPY_PY_SSL=0", "MICROPY_PY_BTREE=0"]
HOW = ("get MicroPython's source: a checkout (git clone --branch v1.28.0 "
       "https://github.com/micropython/micropython) or a folder holding micropython-1.28.0.tar.xz, "
       "then `make native MPY_SRC=<that folder>`")


class NativeError(Exception):
    pass


def is_tree(p):
    return (p / "py" / "mpconfig.h").is_file() and (p / "ports" / "unix" / "Makefile").is_file()


def source_tree(src, log=print):
    """-> a MicroPython source tree: src itself, or its tarball extracted under build/native/src."""
    src = Path(src).resolve()
    if is_tree(src):
        return src
    balls = sorted(src.glob("micropython-*.tar.xz")) if src.is_dir() else []
    if not balls:
        raise NativeError("no MicroPython source at %s: %s" % (src, HOW))
    ball = balls[-1]
    dest = OUT / "src"
    tree = dest / ball.name[:-len(".tar.xz")]
    mark = dest / (ball.name + ".sha256")
    digest = hashlib.sha256(ball.read_bytes()).hexdigest()
    if is_tree(tree) and mark.is_file() and mark.read_text().strip() == digest:
        return tree
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    log("native: extracting %s into %s" % (ball.name, dest))
    with tarfile.open(ball) as t:
        t.extractall(dest, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(dest)
    if not is_tree(tree):
        raise NativeError("%s did not hold %s/ with py/ and ports/unix/" % (ball, tree.name))
    mark.write_text(digest + "\n")
    return tree


def can_m32():
    """gcc -m32 works (Debian: gcc-multilib)."""
    with tempfile.TemporaryDirectory() as d:
        c = Path(d) / "t.c"
        c.write_text("#include <stdio.h>\nint main(void){return 0;}\n")
        r = subprocess.run(["gcc", "-m32", str(c), "-o", str(Path(d) / "t")], capture_output=True)
        return r.returncode == 0


def firmware_digest(tree):
    """What the binaries freeze and how: every frozen source, the flags, the source tree."""
    h = hashlib.sha256()
    for src, rel in build_firmware.sources(BOARD):
        h.update(rel.encode() + b"\0" + src.read_bytes() + b"\0")
    h.update(" ".join(FLAGS).encode() + str(tree).encode())
    h.update((ROOT / "firmware" / "main.py").read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


def make(args, log_path, what):
    t0 = time.time()
    with open(log_path, "w") as log:
        r = subprocess.run(["make", "-j%d" % (os.cpu_count() or 2)] + args, stdout=log,
                           stderr=subprocess.STDOUT)
    if r.returncode:
        tail = Path(log_path).read_text().strip().splitlines()[-15:]
        raise NativeError("%s failed (log %s):\n  %s" % (what, log_path, "\n  ".join(tail)))
    return time.time() - t0


def build(src, log=print):
    if shutil.which("make") is None or shutil.which("gcc") is None:
        raise NativeError("make and gcc are needed (tools/sysdeps.sh installs gcc-multilib, "
                          "which brings gcc)")
    tree = source_tree(src, log)
    if not can_m32():
        raise NativeError("gcc -m32 does not work: install gcc-multilib (tools/sysdeps.sh, as root)")
    OUT.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    # the digest of the sources as frozen: taken before the bundle is built, so a source
    # edited during the minutes of make leaves the stamp stale rather than the binary
    digest = firmware_digest(tree)
    build_firmware.build(BOARD, log=lambda *a: None)     # writes build/sim-modules.py
    manifest = ROOT / "build" / ("%s-modules.py" % BOARD)
    mpyx_dir = OUT / "mpy-cross"
    mpyx = mpyx_dir / "mpy-cross"
    times = {}
    times["mpy-cross"] = make(["-C", str(tree / "mpy-cross"), "BUILD=%s" % mpyx_dir],
                              OUT / "mpy-cross.log", "mpy-cross")
    common = FLAGS + ["FROZEN_MANIFEST=%s" % manifest, "MICROPY_MPYCROSS=%s" % mpyx,
                      "MICROPY_MPYCROSS_DEPENDENCY="]
    for name, extra, dest in (("32-bit", ["MICROPY_FORCE_32BIT=1"], BIN32), ("64-bit", [], BIN64)):
        bdir = OUT / ("build-" + name[:2])
        times[name] = make(["-C", str(tree / "ports" / "unix"), "BUILD=%s" % bdir,
                            "PROG=" + dest.name] + extra + common, OUT / ("%s.log" % name), name)
        tmp = dest.with_suffix(".new")
        shutil.copy2(bdir / dest.name, tmp)
        os.replace(tmp, dest)
    shutil.copyfile(ROOT / "firmware" / "main.py", MAIN)
    check()
    STAMP.write_text(json.dumps({"digest": digest, "tree": str(tree)}) + "\n")
    log("native: built %s and %s from %s in %.0f s (%s)" % (
        BIN32.relative_to(ROOT), BIN64.relative_to(ROOT), tree, time.time() - t_all,
        ", ".join("%s %.0f s" % kv for kv in times.items())))


def check():
    """Both binaries start, have the word size they claim and import the frozen app."""
    code = "import sys, app, board, umqtt.simple; print(64 if sys.maxsize > 2**32 else 32)"
    for exe, bits in ((BIN32, 32), (BIN64, 64)):
        r = subprocess.run([str(exe), "-c", code], capture_output=True, text=True,
                           env=run_env(), cwd=str(OUT))
        if r.returncode or r.stdout.split()[-1:] != [str(bits)]:
            raise NativeError("%s does not run the frozen firmware: %s" % (exe, (r.stderr or r.stdout)[-300:]))


def run_env(extra=None):
    """Environment for the native binaries: frozen modules only (no stray sources first)."""
    env = dict(os.environ, MICROPYPATH=".frozen")
    env.update(extra or {})
    return env


def stale():
    """-> None when up to date, else the reason."""
    if not (BIN32.exists() and BIN64.exists() and STAMP.exists()):
        return "not built"
    st = json.loads(STAMP.read_text())
    if not is_tree(Path(st["tree"])):
        return "source tree %s is gone" % st["tree"]
    if st["digest"] != firmware_digest(Path(st["tree"])):
        return "the frozen firmware changed"
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.environ.get("MPY_SRC") or str(DEFAULT_SRC),
                    help="MicroPython source tree or folder with its tarball (MPY_SRC)")
    ap.add_argument("--refresh", action="store_true",
                    help="rebuild only if built and stale; succeed with a note when not built")
    a = ap.parse_args(argv)
    try:
        if a.refresh:
            why = stale()
            if why is None:
                return 0
            if why == "not built":
                print("native: no native build (make native): the 32-bit suites will skip", file=sys.stderr)
                return 0
            st = json.loads(STAMP.read_text()) if STAMP.exists() else {}
            src = st.get("tree") if why != "source tree %s is gone" % st.get("tree") else a.src
            print("native: %s, rebuilding" % why, file=sys.stderr)
            build(src or a.src)
            return 0
        build(a.src)
    except NativeError as e:
        print("native: %s" % e, file=sys.stderr)
        return 2
    except build_firmware.BuildError as e:
        print("native: firmware bundle: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
