#!/usr/bin/env python3
"""Heap floor and margin of every firmware test run on the MicroPython unix port.

    .venv/bin/python tools/heap_margins.py [-j 2] [-k substring] [--committed]

The tree (working copy, or HEAD with --committed) is copied under a long path, as a CI
clone would be: the unix port keeps __file__ strings, sys.path entries and the bytecode of
every imported module in the heap, so a longer path costs heap (a script that passed at
64k in /work/main failed at 64k from a clone). For each test run the smallest
`-X heapsize` at which it still passes is bisected (1 KiB steps) and a table is printed:

    script  configured  floor  margin

Policy (briefs, heap policy): every firmware test passes with at least 8 KiB to spare
below the heap it is run at (exit status 1 otherwise). The configured heap comes from
where the suite takes it: the `# heap: NNk` first line of a tests_host/mpy/test_*.py
script (64k when absent, tests_host/test_mpy_suites.py), or the wrapper's constant for
the composed scripts (ELEC_HEAP, GAS_HEAP, ...: read from the wrapper's source here, so
the table shows what CI runs).

Runs on CPython; needs only the micropython binary (MICROPYTHON or .venv/bin/micropython).
About 5-10 minutes on 2 cores: not part of `make test`.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() \
    else sys.executable
MARGIN_K = 8          # heap policy: at least 8 KiB to spare
COMPOSED_K = 16       # composed scripts are set to floor + >= 16 KiB, rounded up to 16k
LONG = "heap-margins-a-long-path-like-a-ci-runner-clone/builds/prepaid-meter-firmware/main"

# CPython wrappers that run the whole firmware (main.py from the bundle) at APP_HEAP; each
# bisection step runs the wrapper's tests until the first failure (minutes: select with -k)
APP_WRAPPERS = ("test_link_hostile.py", "test_link_tls.py", "test_app_idle.py",
                "test_link_outage_timing.py")

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)
HEAP_LINE = re.compile(r"^#\s*heap:\s*(\d+k|app)(?:\+(\d+)k)?\s*$")


def kib(s):
    s = s.strip().lower()
    return int(s[:-1]) if s.endswith("k") else int(s) // 1024


def script_heap_k(path, default_k=64):
    """The `# heap: NNk` declaration on the first line of a test script (`# heap: app`:
    conftest's APP_HEAP), else the default."""
    with open(path) as f:
        m = HEAP_LINE.match(f.readline())
    if not m:
        return default_k
    if m.group(1) == "app":         # `# heap: app+16k`: APP_HEAP and the fakes' extra
        return wrapper_heap_k(Path(path).parent.parent.parent / "tools" / "heap_policy.py",
                              "APP_HEAP") + int(m.group(2) or 0)
    return kib(m.group(1))


def wrapper_heap_k(path, var):
    """The default of os.environ.get(var, "NNNk") in a CPython wrapper's source."""
    m = re.search(r'os\.environ\.get\("%s",\s*"(\d+k)"\)' % var, Path(path).read_text())
    if not m:
        raise SystemExit("%s: no %s default found" % (path, var))
    return kib(m.group(1))


def copy_tree(dst, committed):
    """Copy the project (without .venv/.git/out/build) to dst; lib/ is installed, not tracked."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    if committed:
        ar = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dst)], input=ar.stdout, check=True)
    else:
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.split("\n")
        for f in files:
            src = ROOT / f
            if f and src.is_file():
                (dst / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst / f)
    shutil.copytree(ROOT / "lib", dst / "lib", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    if (ROOT / ".venv").exists():           # tools and tests look for ROOT/.venv/bin/...
        (dst / ".venv").symlink_to(ROOT / ".venv")


class Case:
    """One test run. kind 'script': micropython <script> under the mptest summary check;
    kind 'pytest': the CPython wrapper with `env_var`=<heap> (what CI runs, fewer examples)."""

    def __init__(self, name, kind, target, heap_k, env_var=None, extra_env=None, timeout=300):
        self.name, self.kind, self.target, self.heap_k = name, kind, target, heap_k
        self.env_var, self.extra_env, self.timeout = env_var, extra_env or {}, timeout

    def run(self, tree, heap_k, workdir):
        if self.kind == "script":
            # as tests_host/test_mpy_suites.py runs them: the firmware from the compiled
            # bundle (tree/bundle/sim, built once by main()), unless --source
            bundle = tree / "bundle" / "sim"
            if bundle.exists():
                path = (bundle, bundle / "lib", tree / "tests_host" / "mpy",
                        tree / "tests_host" / "mpy" / "rigs")
            else:
                path = tuple(tree / p for p in ("firmware", "lib", "boards/sim", "tests_host/mpy",
                                                "tests_host/mpy/rigs"))
            env = dict(os.environ, MICROPYPATH=":".join(str(x) for x in path))
            env.update(self.extra_env)
            cmd = [MICROPYTHON, "-X", "heapsize=%dk" % heap_k, str(tree / self.target)]
            try:
                r = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                                   timeout=self.timeout)
            except subprocess.TimeoutExpired:
                return False, "timeout"
            m = SUMMARY.findall(r.stdout)
            ok = r.returncode == 0 and bool(m) and m[-1][1] == "0" and m[-1][0] != "0"
            return ok, (r.stdout + r.stderr)[-600:]
        env = dict(os.environ, MICROPYTHON=MICROPYTHON, PYTHONDONTWRITEBYTECODE="1")
        env.update(self.extra_env)
        env[self.env_var] = "%dk" % heap_k
        cmd = [PYTHON, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
               "--basetemp", str(workdir / "pt"), str(tree / self.target)]
        try:
            r = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True,
                               timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return False, "timeout"
        ok = r.returncode == 0 and " passed" in r.stdout and "skipped" not in r.stdout
        return ok, (r.stdout + r.stderr)[-600:]


def cases(tree):
    mpy = tree / "tests_host" / "mpy"
    th = tree / "tests_host"
    out = []
    for p in sorted(mpy.glob("test_*.py")):
        out.append(Case(p.stem, "script", p.relative_to(tree), script_heap_k(p)))
    # composed scripts run by their own CPython wrappers
    elec = wrapper_heap_k(th / "test_elec_scenarios.py", "ELEC_HEAP")
    for p in sorted(mpy.glob("elec_scen_*.py")):
        out.append(Case(p.stem, "script", p.relative_to(tree), elec))
    if (mpy / "gas_scenarios.py").exists():
        out.append(Case("gas_scenarios", "script", "tests_host/mpy/gas_scenarios.py",
                        wrapper_heap_k(th / "test_gas_scenarios.py", "GAS_HEAP")))
    if (mpy / "water_scn.py").exists():
        out.append(Case("water_scn", "script", "tests_host/mpy/water_scn.py",
                        wrapper_heap_k(th / "test_water_scenarios.py", "WATER_HEAP")))
    for script, wrapper in (("core_lfs_prepay.py", "test_core_lfs.py"),
                            ("core_prepay_checks.py", "test_core_property_prepay.py")):
        if (mpy / script).exists():
            out.append(Case(Path(script).stem, "script", "tests_host/mpy/" + script,
                            wrapper_heap_k(th / wrapper, "CORE_HEAP")))
    # drivers fed by CPython (stdin protocols): bisect through the wrapper itself
    out.append(Case("core_driver ops (test_core_property)", "pytest",
                    "tests_host/test_core_property.py",
                    wrapper_heap_k(th / "test_core_property.py", "CORE_HEAP"), "CORE_HEAP",
                    {"HYPOTHESIS_EXAMPLES": "15"}))
    out.append(Case("core_driver workload (test_core_powerloss)", "pytest",
                    "tests_host/test_core_powerloss.py",
                    wrapper_heap_k(th / "test_core_powerloss.py", "CORE_HEAP"), "CORE_HEAP",
                    {"POWERLOSS_TRIALS": "20"}))
    out.append(Case("paygo feed (test_paygo_interop)", "pytest", "tests_host/test_paygo_interop.py",
                    64, "MPY_HEAP"))
    # whole-app runs (firmware/main.py or an App in a rig) share one heap: conftest's APP_HEAP
    app = wrapper_heap_k(tree / "tools" / "heap_policy.py", "APP_HEAP")
    if (mpy / "app_boot_rig.py").exists():
        out.append(Case("app_boot_rig", "script", "tests_host/mpy/app_boot_rig.py", app))
    for w in APP_WRAPPERS:
        if (th / w).exists():
            out.append(Case("main.py (%s)" % w, "pytest", "tests_host/" + w, app, "APP_HEAP",
                            timeout=600))
    if "FIELD_HEAP" in (th / "test_field_pty.py").read_text() and shutil.which("socat"):
        out.append(Case("device + deploy (test_field_pty)", "pytest",
                        "tests_host/test_field_pty.py",
                        wrapper_heap_k(th / "test_field_pty.py", "FIELD_HEAP"), "FIELD_HEAP",
                        timeout=240))
    return out


def floor_k(case, tree, work, log):
    """Smallest heap (KiB) at which the case passes, bisected; None if it fails even at 2x."""
    work.mkdir(parents=True, exist_ok=True)

    def passes(k):
        d = Path(tempfile.mkdtemp(dir=work))
        t0 = time.time()
        ok, tail = case.run(tree, k, d)
        shutil.rmtree(d, ignore_errors=True)
        log("  %-44s %4dk %s (%.1f s)" % (case.name, k, "pass" if ok else "FAIL", time.time() - t0))
        return ok, tail

    hi = case.heap_k
    ok, tail = passes(hi)
    if not ok:
        hi = None
        for k in (case.heap_k * 3 // 2, case.heap_k * 2):
            if passes(k)[0]:
                hi = k
                break
        if hi is None:
            return None, tail
    lo = 8                                  # assumed to fail
    probe = hi - MARGIN_K - 1               # one run decides "margin ok" before the bisection
    if lo < probe < hi:
        if passes(probe)[0]:
            hi = probe
        else:
            lo = probe
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if passes(mid)[0]:
            hi = mid
        else:
            lo = mid
    return hi, ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("-k", dest="only", default=None,
                    help="only cases whose name contains one of these (comma-separated)")
    ap.add_argument("--committed", action="store_true", help="measure HEAD, not the work tree")
    ap.add_argument("--base", default=tempfile.gettempdir())
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--source", action="store_true",
                    help="import the firmware from source instead of the .mpy bundle")
    a = ap.parse_args(argv)
    if not os.path.exists(MICROPYTHON):
        raise SystemExit("micropython not found at %s (make venv)" % MICROPYTHON)
    base = Path(a.base) / ("hm%d" % os.getpid())
    tree = base / LONG
    copy_tree(tree, a.committed)
    if not a.source:
        subprocess.run([PYTHON, str(tree / "tools" / "build_firmware.py"), "--board", "sim", "--out",
                        str(tree / "bundle" / "sim")], cwd=tree, capture_output=True, check=True)
    only = a.only.split(",") if a.only else None
    todo = [c for c in cases(tree) if not only or any(o in c.name for o in only)]
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if a.verbose else (lambda s: None)
    print("tree copied to %s (%d chars)" % (tree, len(str(tree))))
    t0 = time.time()
    with ThreadPoolExecutor(a.jobs) as ex:
        res = list(ex.map(lambda c: (c, floor_k(c, tree, base / "work", log)), todo))
    bad = 0
    print("%-44s %10s %6s %7s" % ("script", "configured", "floor", "margin"))
    for c, (fl, tail) in res:
        if fl is None:
            bad += 1
            print("%-44s %9dk %6s %7s  FAILS even at %dk:\n%s" % (
                c.name, c.heap_k, "-", "-", c.heap_k * 2, tail))
            continue
        m = c.heap_k - fl
        flag = "" if m >= MARGIN_K else "  < %dk" % MARGIN_K
        if not flag and c.heap_k != 64 and m < COMPOSED_K:
            flag = "  (composed: set to %dk)" % -(-(fl + COMPOSED_K) // 16 * 16)
        bad += m < MARGIN_K
        print("%-44s %9dk %5dk %6dk%s" % (c.name, c.heap_k, fl, m, flag))
    print("%d runs measured in %.0f s; %d below the %d KiB margin" % (
        len(res), time.time() - t0, bad, MARGIN_K))
    shutil.rmtree(base, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
