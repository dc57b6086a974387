"""The tree keeps the shape docs/architecture.md describes: the core imports only the core
(and pure builtins), no firmware module reaches into another object's private members, and
the architecture map names every firmware module."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"

# What the core may import besides itself: MicroPython builtins that are pure computation
# or the store's file access. Never machine/esp32/network/socket/time (docs/architecture.md:
# the core never touches hardware and never reads the clock).
CORE_BUILTINS = {"binascii", "gc", "hashlib", "io", "json", "micropython", "os", "struct", "sys"}


def imports_of(path):
    """(line, top-level module name) of every import in a file, function-level ones too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, "." if node.level else node.module))
    return out


def test_core_imports_only_core_and_pure_builtins():
    bad = []
    for p in sorted((FIRMWARE / "core").glob("*.py")):
        for line, mod in imports_of(p):
            top = mod.split(".")[0]
            if top != "core" and top not in CORE_BUILTINS:
                bad.append("%s:%d imports %s" % (p.relative_to(ROOT), line, mod))
    assert not bad, "the core reaches outside core/:\n" + "\n".join(bad)


def test_the_core_check_catches_an_outward_import(tmp_path):
    p = tmp_path / "x.py"
    p.write_text("import json\nfrom core import ledger\n\ndef f():\n    from link import mqtt\n")
    assert [m for _, m in imports_of(p)] == ["json", "core", "link"]
