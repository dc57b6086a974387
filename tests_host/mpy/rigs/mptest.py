# Minimal test runner for firmware tests on the MicroPython unix port.
# A test script defines test_* functions and ends with `mptest.main(globals())`.
# It prints one line per test and a closing "N passed, N failed", and exits with
# status 1 when anything failed. tests_host/test_mpy_suites.py runs every script
# under `micropython -X heapsize=64k`.
import sys
import gc
import random


class Fail(Exception):
    pass


def eq(a, b, msg=""):
    if a != b:
        raise Fail("%r != %r %s" % (a, b, msg))


def true(x, msg=""):
    if not x:
        raise Fail("expected true: %s" % msg)


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise Fail("%s not raised by %s" % (exc.__name__, getattr(fn, "__name__", fn)))


def randint(a, b):
    """random.randint(a, b) for any int range. MicroPython's takes machine words only, which
    on a 32-bit port (31-bit small ints) stops short of unix times and money past 2**30."""
    n = b - a + 1
    k = 0
    while n >> k:
        k += 1
    while True:
        r, got = 0, 0
        while got < k:
            r = r << 30 | random.getrandbits(30)
            got += 30
        r >>= got - k
        if r < n:
            return a + r


def main(g):
    only = sys.argv[1] if len(sys.argv) > 1 else None
    names = sorted(k for k in g if k.startswith("test_") and (only is None or only in k))
    passed = failed = 0
    for name in names:
        gc.collect()
        try:
            g[name]()
        except Exception as e:
            failed += 1
            print("FAIL", name)
            sys.print_exception(e)
        else:
            passed += 1
            print("ok  ", name)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
