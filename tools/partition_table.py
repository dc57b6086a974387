#!/usr/bin/env python3
"""A board's ESP-IDF partition table (boards/<board>/partitions.csv), read and checked.

    .venv/bin/python tools/partition_table.py esp32_gas      # the table, checked

The CSV is ESP-IDF's format (Name, Type, SubType, Offset, Size, Flags; numbers in hex,
decimal or with a K/M suffix; docs: ESP-IDF "Partition Tables"), every offset explicit, plus
one comment line `# flash: 4MiB` naming the module's flash size. check() refuses a table
whose partitions overlap, leave the flash, cover the partition table at 0x8000, sit off
ESP-IDF's alignment (app 64 KiB, data 4 KiB), or lack what this firmware needs: two OTA app
slots and otadata (esp32.Partition updates, docs/ota.md), one romfs partition (data,
subtype 0x8f, as in MicroPython's partitions-4MiB-romfs.csv) and "vfs" (the filesystem
MicroPython's flashbdev mounts)."""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE_OFFSET = 0x8000       # ESP-IDF's default CONFIG_PARTITION_TABLE_OFFSET
TABLE_SIZE = 0x1000
ROMFS_SUBTYPE = 0x8f        # MicroPython's romfs partition (ports/esp32/partitions-4MiB-romfs.csv)
ALIGN = {"app": 0x10000, "data": 0x1000}


class TableError(ValueError):
    pass


def number(text):
    t = text.strip().lower()
    scale = 1
    if t.endswith("k"):
        t, scale = t[:-1], 1024
    elif t.endswith("m"):
        t, scale = t[:-1], 1024 * 1024
    try:
        return int(t, 16 if t.startswith("0x") else 10) * scale
    except ValueError:
        raise TableError("not a number: %r" % text)


def path(board):
    return ROOT / "boards" / board / "partitions.csv"


def read(csv_path):
    """-> (flash size in bytes, [dict(name, type, subtype, offset, size)])."""
    flash = None
    rows = []
    for n, line in enumerate(Path(csv_path).read_text().splitlines(), 1):
        s = line.strip()
        m = re.match(r"#\s*flash:\s*(\d+)\s*MiB\b", s)
        if m:
            flash = int(m.group(1)) * 1024 * 1024
        if not s or s.startswith("#"):
            continue
        f = [x.strip() for x in s.split(",")]
        if len(f) < 5 or not f[3] or not f[4]:
            raise TableError("line %d: name, type, subtype, offset and size are all needed" % n)
        rows.append({"name": f[0], "type": f[1], "subtype": f[2], "offset": number(f[3]),
                     "size": number(f[4])})
    if flash is None:
        raise TableError("%s: no `# flash: <N>MiB` line" % csv_path)
    return flash, rows


def check(flash, rows):
    """Raise TableError unless the table is sound for this firmware; -> {name: row}."""
    by = {}
    for r in rows:
        if r["name"] in by:
            raise TableError("two partitions named %s" % r["name"])
        by[r["name"]] = r
        a = ALIGN.get(r["type"])
        if a is None:
            raise TableError("%s: type must be app or data" % r["name"])
        if r["offset"] % a or r["size"] <= 0:
            raise TableError("%s: offset 0x%x not %d KiB aligned, or empty" % (r["name"], r["offset"], a // 1024))
        if r["offset"] < TABLE_OFFSET + TABLE_SIZE:
            raise TableError("%s covers the bootloader or the partition table" % r["name"])
        if r["offset"] + r["size"] > flash:
            raise TableError("%s ends at 0x%x, past the %d MiB flash"
                             % (r["name"], r["offset"] + r["size"], flash >> 20))
    spans = sorted((r["offset"], r["offset"] + r["size"], r["name"]) for r in rows)
    for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            raise TableError("%s and %s overlap" % (an, bn))
    subtypes = [(r["type"], r["subtype"]) for r in rows]
    for need in (("app", "ota_0"), ("app", "ota_1"), ("data", "ota")):
        if need not in subtypes:
            raise TableError("no %s partition of subtype %s" % need)
    if len(romfs(rows)) != 1:
        raise TableError("exactly one romfs partition (data, subtype 0x%x) is needed" % ROMFS_SUBTYPE)
    if "vfs" not in by or by["vfs"]["type"] != "data":
        raise TableError("no data partition named vfs (the filesystem)")
    return by


def romfs(rows):
    return [r for r in rows if r["type"] == "data" and r["subtype"].lower() in ("0x8f", "143")]


def romfs_size(board):
    """The size of the board's romfs partition, its table read and checked; None for a board
    without a partition table (the sim board)."""
    p = path(board)
    if not p.is_file():
        return None
    flash, rows = read(p)
    check(flash, rows)
    return romfs(rows)[0]["size"]


def main(argv):
    for board in argv or sorted(p.parent.name for p in (ROOT / "boards").glob("*/partitions.csv")):
        flash, rows = read(path(board))
        check(flash, rows)
        print("%s: %d MiB flash" % (board, flash >> 20))
        for r in rows:
            print("  %-9s %-4s %-6s 0x%06x %8d bytes" % (r["name"], r["type"], r["subtype"], r["offset"], r["size"]))
        print("  free after the last partition: %d bytes" % (flash - max(r["offset"] + r["size"] for r in rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
