#!/usr/bin/env python3
"""`make deploy BOARD=<board> PORT=<port>`: copy a built bundle onto a meter with mpremote.

Only files whose SHA-256 differs from the device's copy are sent; the hashes are computed
on the device (hashlib.sha256 via `mpremote exec`), so nothing is trusted from a cache.
After the copy every file is hashed again and compared. A stale `x.py` beside a deployed
`x.mpy` is removed, because MicroPython imports the .py first and would keep running the
old code. config.json, the key and the meter's records are never touched.

With --romfs (`make deploy ROMFS=1`) the compiled modules go as one ROMFS image into the
board's romfs partition (`mpremote romfs deploy`), where their bytecode runs in place from
flash; boot.py and main.py are still copied, and every bundle module left on the filesystem
is removed, because the port searches "" (the filesystem root) before /rom. It needs a
MicroPython built with MICROPY_VFS_ROM and a romfs partition (docs/field-guide.md): on any
other firmware it stops before changing anything.

Works against a real board on a serial port or against the unix port on a pseudo-terminal
(`socat PTY,link=meter-pty,rawer EXEC:"micropython -i ..."`); mpremote is always used with
`resume` so the running firmware is not soft-reset before the copy.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEVER_TOUCH = ("config.json",)

# Runs on the device: hash each path with a 512-byte buffer (heap-friendly), null if absent.
HASH_SNIPPET = """
import hashlib, binascii, json
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256(); b = bytearray(512); m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(m[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
print('HASHES' + json.dumps(dict((p, _h(p)) for p in %s)))
"""

MKDIR_SNIPPET = """
import os
for d in %s:
    try:
        os.mkdir(d)
    except OSError:
        pass
"""

RM_SNIPPET = """
import os
for p in %s:
    try:
        os.remove(p)
    except OSError:
        pass
"""


class DeployError(Exception):
    pass


def mpremote_cmd():
    env = os.environ.get("MPREMOTE")
    if env:
        return env.split()
    venv = ROOT / ".venv" / "bin" / "mpremote"
    if venv.exists():
        return [str(venv)]
    found = shutil.which("mpremote")
    if not found:
        raise DeployError("mpremote not found: run `make venv`")
    return [found]


class Device:
    """mpremote against one port; every call is `mpremote resume connect <port> ...`."""

    def __init__(self, port, timeout_s=60):
        if not port:
            raise DeployError("set PORT=<serial port or pty> (`mpremote devs` lists ports)")
        if not port.startswith(("rfc2217://", "socket://")) and not os.path.exists(port):
            raise DeployError("port %s does not exist: is the meter connected?" % port)
        self.port = port
        self.timeout_s = timeout_s

    def run(self, *args):
        cmd = mpremote_cmd() + ["resume", "connect", self.port] + list(args)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise DeployError("mpremote timed out on %s: is the firmware stuck? Press Ctrl-C "
                              "in a terminal (`mpremote connect %s repl`) and retry"
                              % (self.port, self.port))
        if r.returncode:
            msg = (r.stderr or r.stdout).strip().splitlines()
            raise DeployError("mpremote failed on %s: %s" % (self.port, msg[-1] if msg else
                                                             "exit %d" % r.returncode))
        return r.stdout

    def exec(self, code):
        return self.run("exec", code)

    def hashes(self, paths):
        out = self.exec(HASH_SNIPPET % json.dumps(list(paths)))
        for line in out.splitlines():
            if line.startswith("HASHES"):
                return json.loads(line[len("HASHES"):])
        raise DeployError("device did not answer the hash query: %r" % out[-200:])

    def mkdirs(self, dirs):
        if dirs:
            self.exec(MKDIR_SNIPPET % json.dumps(sorted(dirs, key=len)))

    def remove(self, paths):
        if paths:
            self.exec(RM_SNIPPET % json.dumps(list(paths)))

    def put(self, pairs):
        """Copy (local, remote) pairs in one mpremote session (commands chained with +)."""
        args = []
        for local, remote in pairs:
            if args:
                args.append("+")
            args += ["fs", "cp", str(local), ":" + remote]
        if args:
            self.run(*args)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest(bundle):
    mf = Path(bundle) / "MANIFEST.sha256"
    if not mf.is_file():
        raise DeployError("%s has no MANIFEST.sha256: run `make firmware BOARD=...` first"
                          % bundle)
    files = {}
    for line in mf.read_text().splitlines():
        h, rel = line.split("  ", 1)
        if rel in NEVER_TOUCH or rel.startswith("/") or ".." in rel.split("/"):
            raise DeployError("manifest entry %r is not deployable" % rel)
        if sha256(Path(bundle) / rel) != h:
            raise DeployError("%s changed since the build: rebuild the bundle" % rel)
        files[rel] = h
    return files


def shadows(rel):
    """The source file that would shadow a compiled module (MicroPython imports .py first)."""
    return rel[:-4] + ".py" if rel.endswith(".mpy") else None


def deploy(bundle, port, dry_run=False, log=print):
    files = read_manifest(bundle)
    dev = Device(port)
    stale_candidates = [s for s in (shadows(r) for r in files) if s]
    on_dev = dev.hashes(list(files) + stale_candidates)
    changed = sorted(r for r, h in files.items() if on_dev.get(r) != h)
    stale = sorted(s for s in stale_candidates if on_dev.get(s) is not None)
    unchanged = len(files) - len(changed)
    for r in changed:
        log("%s %s" % ("new    " if on_dev.get(r) is None else "changed", r))
    for s in stale:
        log("remove  %s (would shadow %s)" % (s, s[:-3] + ".mpy"))
    if dry_run:
        log("dry run: %d to copy, %d to remove, %d unchanged" % (len(changed), len(stale),
                                                                unchanged))
        return changed, stale
    dirs = set()
    for r in changed:
        parts = r.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    dev.mkdirs(dirs)
    dev.put([(Path(bundle) / r, r) for r in changed])
    dev.remove(stale)
    after = dev.hashes(list(files) + stale)
    bad = sorted(r for r, h in files.items() if after.get(r) != h)
    if bad:
        raise DeployError("verification failed after copy for: %s" % ", ".join(bad))
    left = [s for s in stale if after.get(s) is not None]
    if left:
        raise DeployError("could not remove stale %s" % ", ".join(left))
    log("deployed: %d copied, %d removed, %d unchanged, all %d verified by SHA-256"
        % (len(changed), len(stale), unchanged, len(files)))
    return changed, stale


ROMFS_QUERY = """
import vfs, sys
print('ROMFS', hasattr(vfs, 'rom_ioctl'))
"""
ROMFS_CHECK = """
import sys
for m in ('app', 'core.prepay', 'board'):
    sys.modules.pop(m, None)
import app, board
print('ROMFSCHECK', '/rom' in sys.path, app.__file__, board.__file__)
"""


def deploy_romfs(bundle, image, port, dry_run=False, log=print):
    """ROMFS deploy: check support, write the image, copy boot.py/main.py, remove the
    filesystem copies that would shadow /rom, then check that the app imports from /rom."""
    files = read_manifest(bundle)
    if not Path(image).is_file():
        raise DeployError("%s missing: build it with `make firmware BOARD=... ROMFS=1`" % image)
    dev = Device(port)
    out = dev.exec(ROMFS_QUERY)
    if "ROMFS True" not in out:
        raise DeployError("the MicroPython on %s has no ROMFS (vfs.rom_ioctl): it needs a "
                          "build with MICROPY_VFS_ROM and a romfs partition; deploy the .mpy "
                          "files instead (make deploy without ROMFS=1)" % port)
    src = [r for r in files if r in ("boot.py", "main.py")]
    shadows_ = sorted(r for r in files if r not in src)
    shadows_ += sorted(s for s in (shadows(r) for r in shadows_) if s)
    on_dev = dev.hashes(src + shadows_)
    stale = [r for r in shadows_ if on_dev.get(r) is not None]
    changed = [r for r in src if on_dev.get(r) != files[r]]
    log("romfs   %s (%d bytes)" % (image, Path(image).stat().st_size))
    for r in changed:
        log("copy    %s" % r)
    for r in stale:
        log("remove  %s (would shadow /rom)" % r)
    if dry_run:
        return changed, stale
    dev.run("romfs", "deploy", str(image))
    dev.put([(Path(bundle) / r, r) for r in changed])
    dev.remove(stale)
    after = dev.hashes(src + stale)
    bad = [r for r in src if after.get(r) != files[r]] + [r for r in stale if after.get(r)]
    if bad:
        raise DeployError("verification failed for: %s" % ", ".join(bad))
    out = dev.exec(ROMFS_CHECK)
    if "ROMFSCHECK True /rom/" not in out:
        raise DeployError("the firmware does not import from /rom: %r" % out[-200:])
    log("deployed: ROMFS image, %d copied, %d removed, imports from /rom" % (len(changed),
                                                                            len(stale)))
    return changed, stale


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default=os.environ.get("BOARD"))
    ap.add_argument("--bundle", help="bundle directory (default build/<board>)")
    ap.add_argument("--port", default=os.environ.get("PORT"))
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--romfs", action="store_true",
                    help="deploy build/<board>.romfs into the romfs partition (MICROPY_VFS_ROM)")
    a = ap.parse_args(argv)
    bundle = a.bundle or (a.board and str(ROOT / "build" / a.board))
    if not bundle:
        print("deploy: set BOARD=<board> (or --bundle DIR)", file=sys.stderr)
        return 2
    try:
        if a.romfs:
            deploy_romfs(bundle, bundle.rstrip("/") + ".romfs", a.port, a.dry_run)
        else:
            deploy(bundle, a.port, a.dry_run)
    except DeployError as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
