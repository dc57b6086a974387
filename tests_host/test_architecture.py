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


REACH = re.compile(r"\b(?!self\b|cls\b)([A-Za-z_]\w*)\.(_[a-z]\w*)")


def code_only(path):
    """The file's code with comments and string literals blanked (tokenize), so a private
    name in a comment or a message does not count."""
    import io
    import tokenize
    src = path.read_text()
    lines = src.splitlines(True)
    out = [list(l) for l in lines]
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type in (tokenize.COMMENT, tokenize.STRING):
            (r0, c0), (r1, c1) = tok.start, tok.end
            for r in range(r0, r1 + 1):
                row = out[r - 1]
                lo = c0 if r == r0 else 0
                hi = c1 if r == r1 else len(row)
                for c in range(lo, hi):
                    if row[c] != "\n":
                        row[c] = " "
    return "".join("".join(r) for r in out)


def private_reaches(path):
    """`x._name` where x is not self/cls and _name is not defined in this same module (a
    module may use its own private helpers on its own objects)."""
    code = code_only(path)
    own = set(re.findall(r"def (_[a-z]\w*)", code)) | set(re.findall(r"self\.(_[a-z]\w*)\s*=", code)) \
        | set(re.findall(r"(?m)^\s*(_[a-z]\w*)\s*=", code))
    bad = []
    for n, line in enumerate(code.splitlines(), 1):
        for m in REACH.finditer(line):
            if m.group(2) not in own:
                bad.append("%s:%d %s.%s" % (path.name, n, m.group(1), m.group(2)))
    return bad


def test_no_firmware_module_touches_another_modules_private_members():
    bad = []
    for p in sorted(FIRMWARE.rglob("*.py")):
        bad.extend(p.parent.relative_to(ROOT).as_posix() + "/" + b for b in private_reaches(p))
    assert not bad, "private members reached from outside their module:\n" + "\n".join(bad)


def test_the_private_reach_check_catches_one(tmp_path):
    p = tmp_path / "x.py"
    p.write_text("class A:\n    def _mine(self):\n        pass\n\n\ndef f(a, b):\n"
                 "    a._mine()      # own module: allowed\n    b._theirs = 1  # b._x in a comment\n"
                 "    s = 'c._y'\n    self._z = 0\n")
    assert [b.split(" ")[1] for b in private_reaches(p)] == ["b._theirs"]


# The near-copies of one validation rule that core/check.py replaced: an id charset
# literal, an "int but not bool" test, a local int helper.
COPIES = [re.compile(p) for p in (
    r"0123456789_\.:-",                                        # the protocol id charset
    r"isinstance\([^()]*, int\)\s+(and|or)\s+(not\s+)?isinstance\([^()]*, bool\)",
    r"isinstance\([^()]*, bool\)\s+or\s+not\s+isinstance\([^()]*, int\)",
    r"type\([^()]*\) is (not )?(int|bool)\b",
    r"def _?(is_int|check_int|int|is_id|valid_id|check_now|check_bool)\(",
)]


def test_one_home_for_each_validation_rule():
    bad = []
    for p in sorted(FIRMWARE.rglob("*.py")):
        if p == FIRMWARE / "core" / "check.py":
            continue
        for n, line in enumerate(code_only(p).splitlines(), 1):
            for rx in COPIES:
                if rx.search(line):
                    bad.append("%s:%d %s" % (p.relative_to(ROOT), n, line.strip()))
    # the charset is a string literal: code_only blanks strings, so look at the source too
    for p in sorted(FIRMWARE.rglob("*.py")):
        if p != FIRMWARE / "core" / "check.py" and COPIES[0].search(p.read_text()):
            bad.append("%s: a copy of the id charset" % p.relative_to(ROOT))
    assert not bad, "a validation rule outside core/check.py:\n" + "\n".join(bad)


def architecture_map():
    """The module map of docs/architecture.md: {folder: text naming its modules}, from the
    fenced block that starts with `firmware/`. A folder's text is its own line and every
    line indented deeper below it."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("```\nfirmware/", 1)[1].split("```", 1)[0]
    lines = ("firmware/" + block).splitlines()
    out = {}
    stack = []                                   # (indent, folder path)
    for line in lines:
        if not line.strip():
            continue
        ind = len(line) - len(line.lstrip())
        first = line.split()[0]
        while stack and stack[-1][0] >= ind and first.endswith("/"):
            stack.pop()
        if first.endswith("/") and ("  " in line.strip() or line.strip() == first):
            path = (stack[-1][1] if stack else "") + first
            stack.append((ind, path))
        for _, path in stack:
            out[path] = out.get(path, "") + " " + line
    return out


def test_architecture_map_names_every_firmware_module():
    amap = architecture_map()
    missing = []
    for p in sorted(FIRMWARE.rglob("*.py")):
        if p.name == "__init__.py":
            continue
        rel = p.relative_to(ROOT).as_posix()
        folder = rel.rsplit("/", 1)[0] + "/"
        if not re.search(r"(?<![\w.])%s\b" % re.escape(p.name), amap.get(folder, "")):
            missing.append(rel)
    assert not missing, "docs/architecture.md's map does not name: " + ", ".join(missing)


def test_the_map_check_sees_a_missing_module():
    amap = architecture_map()
    assert "cell_call.py" in amap["firmware/net/"] and "detect.py" in amap["firmware/meters/water/"]
    assert "detect.py" not in amap.get("firmware/meters/gas/", "")
    assert "frame.py" not in amap["firmware/link/"]


# Notes outside the repository and issue numbers are not sources: comments and docs cite
# the standard or the project's own docs (the names are split so this file passes).
NOT_SOURCES = re.compile(r"\b(" + "|".join(("dom" + "ain", "tool" + "chain", "sty" + "le")) +
                         r")\.md\b|\bis" + r"sue( \d+|:)|\(is" + r"sue\b")


def test_no_comment_cites_notes_outside_the_repository():
    bad = []
    for top in ("firmware", "tools", "tests_host", "docs", "boards"):
        for p in sorted((ROOT / top).rglob("*")):
            if p.suffix in (".py", ".md") and "__pycache__" not in p.parts:
                for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
                    if NOT_SOURCES.search(line):
                        bad.append("%s:%d %s" % (p.relative_to(ROOT), n, line.strip()))
    assert not bad, "\n".join(bad)

# A test hook inside the firmware (an environment variable that makes the meter kill
# itself, a shell command) is a way to turn a production meter into a test rig: tests patch
# the firmware from outside (tests_host/mpy/main_*.py launchers) instead.
TEST_HOOK = re.compile(r"\b(getenv|putenv|environ|system)\s*\(|\benviron\b")


def hook_lines(path):
    return [(path.name, n) for n, line in
            enumerate(code_only(path).splitlines(), 1) if TEST_HOOK.search(line)]


def test_no_firmware_module_reads_the_environment_or_runs_a_shell():
    found = []
    for p in sorted(FIRMWARE.rglob("*.py")):
        found += hook_lines(p)
    assert not found, found


def test_the_test_hook_check_catches_one(tmp_path):
    p = tmp_path / "m.py"
    p.write_text('import os\nif os.getenv("KILL"):\n    os.system("kill -9 $PPID")\n')
    assert len(hook_lines(p)) == 2
