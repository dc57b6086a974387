"""`make native` (tools/build_native.py): without a MicroPython source it says how to get
one and changes nothing; with the build present, both binaries run the frozen firmware with
the word size they claim, and the frozen modules are the current firmware's."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import build_native  # noqa: E402


def test_without_a_source_tree_it_says_how_to_get_one(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "tools/build_native.py"), "--src", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "no MicroPython source at %s" % tmp_path in r.stderr
    assert "git clone" in r.stderr and "MPY_SRC" in r.stderr


@pytest.mark.skipif(not build_native.BIN32.exists(), reason="no native build (make native)")
@pytest.mark.parametrize("exe, bits", [(build_native.BIN32, 32), (build_native.BIN64, 64)])
def test_native_binaries_run_the_frozen_firmware(exe, bits, tmp_path):
    assert build_native.stale() is None, "make test refreshes the build first (build_native.py --refresh)"
    code = ("import sys, app, board, umqtt.simple\n"
            "print(64 if sys.maxsize > 2**32 else 32, app.__file__, sys.implementation._mpy & 0xff)")
    r = subprocess.run([str(exe), "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=build_native.run_env())
    assert r.returncode == 0, r.stderr
    word, where, mpy = r.stdout.split()
    assert (int(word), mpy) == (bits, "6")
    assert where == "app.py", where      # a frozen module's name, not a file on disk
