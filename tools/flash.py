#!/usr/bin/env python3
"""`make flash PORT=<serial port> FIRMWARE=<micropython .bin>`: put MicroPython on an ESP32.

Steps: check the port and the image, detect the chip with esptool, check the image was
built for that chip, erase the flash, write the image at the chip's offset, and say what
to do next (make deploy). Every wrong input stops with one line saying what is wrong.

Offsets (MicroPython's own download page and esptool's defaults): the ESP32 and ESP32-S2
ROM loads the second-stage bootloader from 0x1000; the S3, C3, C6 and later load it from
0x0. MicroPython's release .bin files are merged images that start with that bootloader.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# chip name -> (flash offset of the merged image, image-header chip id)
# Chip ids: esp_app_format.h `esp_chip_id_t` (ESP32=0, S2=2, C3=5, S3=9, C2=12, C6=13, H2=16).
CHIPS = {
    "esp32": (0x1000, 0),
    "esp32s2": (0x1000, 2),
    "esp32c3": (0x0, 5),
    "esp32s3": (0x0, 9),
    "esp32c2": (0x0, 12),
    "esp32c6": (0x0, 13),
    "esp32h2": (0x0, 16),
}
ESP_IMAGE_MAGIC = 0xE9
MIN_IMAGE_BYTES = 64 * 1024       # a MicroPython image is >1 MB; anything tiny is the wrong file


class FlashError(Exception):
    pass


def esptool_cmd():
    env = os.environ.get("ESPTOOL")
    if env:
        return env.split()
    venv = ROOT / ".venv" / "bin" / "esptool"
    if venv.exists():
        return [str(venv)]
    found = shutil.which("esptool") or shutil.which("esptool.py")
    if not found:
        raise FlashError("esptool not found: run `make venv` (it is in requirements-dev.txt)")
    return [found]


def check_port(port):
    if not port:
        raise FlashError("set PORT=<serial port> (e.g. /dev/ttyUSB0; `mpremote devs` lists them)")
    if port.startswith(("rfc2217://", "socket://")):
        return
    if not os.path.exists(port):
        raise FlashError("port %s does not exist: is the board plugged in? (`mpremote devs`)"
                         % port)
    if os.path.isdir(port):
        raise FlashError("port %s is a directory, not a serial device" % port)
    if not os.access(port, os.R_OK | os.W_OK):
        raise FlashError("no read/write access to %s: add yourself to the dialout group" % port)


def image_chip_id(path):
    """Return the chip id in an ESP image header; FlashError if the file is not one."""
    if not path:
        raise FlashError("set FIRMWARE=<micropython .bin> (from micropython.org/download)")
    p = Path(path)
    if not p.is_file():
        raise FlashError("firmware %s: no such file" % path)
    if p.suffix.lower() != ".bin":
        raise FlashError("firmware %s: expected a .bin image (an .elf, .uf2 or .hex will not "
                         "boot from esptool write-flash)" % path)
    size = p.stat().st_size
    if size < MIN_IMAGE_BYTES:
        raise FlashError("firmware %s: only %d bytes, not a MicroPython image" % (path, size))
    with open(p, "rb") as f:
        head = f.read(24)
    if head[0] != ESP_IMAGE_MAGIC:
        raise FlashError("firmware %s: not an ESP image (first byte 0x%02x, want 0xe9)"
                         % (path, head[0]))
    # esp_image_header_t: magic, segment_count, spi_mode, spi_speed_size, entry_addr(4),
    # wp_pin, spi_pin_drv[3], chip_id (uint16 little-endian at offset 12)
    return head[12] | head[13] << 8


def parse_chip(output):
    """Chip name from esptool's output ("Connected to ESP32-S3 on ..." / "Chip type: ...")."""
    m = re.search(r"(?:Connected to|Chip (?:is|type:))\s+(ESP32(?:-[A-Z0-9]+)?)", output)
    if not m:
        return None
    return m.group(1).lower().replace("-", "")


def run(cmd, log):
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, capture_output=True, text=True)


def detect_chip(port, baud, log):
    r = run(esptool_cmd() + ["--port", port, "--baud", str(baud), "chip-id"], log)
    out = r.stdout + r.stderr
    chip = parse_chip(out)
    if r.returncode or not chip:
        last = [l for l in out.strip().splitlines() if l.strip()][-1:] or ["no output"]
        raise FlashError("no ESP chip answered on %s (%s). Hold BOOT, tap EN, and retry"
                         % (port, last[0].strip()))
    if chip not in CHIPS:
        raise FlashError("chip %s on %s is not supported by these boards (known: %s)"
                         % (chip, port, ", ".join(sorted(CHIPS))))
    return chip


def plan(chip, port, firmware, baud):
    """The esptool command lines that flash `firmware` onto `chip` (pure: tested)."""
    offset = CHIPS[chip][0]
    base = esptool_cmd() + ["--chip", chip, "--port", port, "--baud", str(baud)]
    return [base + ["erase-flash"],
            base + ["write-flash", "-z", "0x%x" % offset, str(firmware)]]


def flash(port, firmware, baud=460800, chip=None, dry_run=False, log=print):
    check_port(port)
    img_chip = image_chip_id(firmware)
    if chip is None:
        chip = detect_chip(port, baud, log)
    elif chip not in CHIPS:
        raise FlashError("unknown chip %r (known: %s)" % (chip, ", ".join(sorted(CHIPS))))
    want = CHIPS[chip][1]
    if img_chip != want:
        names = [k for k, v in CHIPS.items() if v[1] == img_chip]
        raise FlashError("firmware %s is built for %s but the board is %s: download the %s "
                         "image" % (firmware, names[0] if names else "chip id %d" % img_chip,
                                    chip, chip.upper()))
    cmds = plan(chip, port, firmware, baud)
    for cmd in cmds:
        if dry_run:
            log("would run: " + " ".join(cmd))
            continue
        r = run(cmd, log)
        if r.returncode:
            raise FlashError("esptool failed (%s):\n%s" % (cmd[-1] if "erase" in cmd[-1]
                             else "write-flash", (r.stderr or r.stdout).strip()))
    log("flashed %s at 0x%x on %s (%s). Next: make deploy BOARD=<board> PORT=%s"
        % (Path(firmware).name, CHIPS[chip][0], port, chip, port))
    return cmds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", default=os.environ.get("PORT"))
    ap.add_argument("--firmware", default=os.environ.get("FIRMWARE"))
    ap.add_argument("--baud", type=int, default=460800)
    ap.add_argument("--chip", help="skip detection (esp32, esp32s3, ...)")
    ap.add_argument("--dry-run", action="store_true", help="print the esptool commands only")
    a = ap.parse_args(argv)
    try:
        flash(a.port, a.firmware, a.baud, a.chip, a.dry_run)
    except FlashError as e:
        print("flash: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
