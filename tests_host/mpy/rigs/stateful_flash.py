# Test-only flash for the whole-meter stateful test (tests_host/test_stateful_meter.py): a
# LittleFS2 filesystem (what an ESP32 runs) on a Python block device backed by a host file,
# so the flash outlives the process: killing the process is a power cut at that instant.
#
# Faults at the block level, as a worn or full flash shows them to the firmware:
#   fail(after, count)  the (after+1)-th to (after+count)-th block program or erase from now
#                       return EIO to LittleFS (count -1: every one until fail(0, 0)); the
#                       firmware sees an OSError from its write, close or rename.
#   cut(after)          the power goes after `after` more block writes: that write and every
#                       later one never reach the image and PowerCut (a BaseException, so no
#                       firmware handler mistakes it for an error it could handle) unwinds
#                       the process, which then exits without any shutdown code.
# A device error is returned as a negative errno (MicroPython's block-device protocol), never
# raised, so LittleFS stays consistent in RAM exactly as with a real flash driver.
import vfs

BLOCK = 4096
BLOCKS = 96               # 384 KiB: room for every record's A/B slots and LittleFS's copies
EIO = 5


class PowerCut(BaseException):
    pass


class Flash:
    def __init__(self, path, blocks=BLOCKS):
        self.blocks = blocks
        self.writes = 0            # block programs and erases since boot
        self.faults = 0            # EIOs returned
        self._fail_at = None
        self._fail_n = 0
        self._cut_at = None
        self.cut_fired = False
        try:
            self.f = open(path, "r+b")
            self.fresh = False
        except OSError:
            self.f = open(path, "w+b")
            blank = b"\xff" * BLOCK
            for _ in range(blocks):
                self.f.write(blank)
            self.fresh = True

    # ---- faults ----------------------------------------------------------------------
    def fail(self, after, count):
        self._fail_at = self.writes + after + 1 if count else None
        self._fail_n = count

    def cut(self, after):
        self._cut_at = self.writes + after + 1

    def _write_ok(self):
        self.writes += 1
        if self._cut_at is not None and self.writes >= self._cut_at:
            self.cut_fired = True
            raise PowerCut()
        if self._fail_at is not None and self.writes >= self._fail_at:
            if self._fail_n > 0:
                self._fail_n -= 1
                if not self._fail_n:
                    self._fail_at = None
            self.faults += 1
            return False
        return True

    # ---- MicroPython block-device protocol ------------------------------------------------
    def readblocks(self, block, buf, off=0):
        self.f.seek(block * BLOCK + off)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, off=None):
        if not self._write_ok():
            return -EIO
        self.f.seek(block * BLOCK + (off or 0))
        self.f.write(buf)
        return 0

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return BLOCK
        if op == 6:                       # erase
            if not self._write_ok():
                return -EIO
            self.f.seek(arg * BLOCK)
            self.f.write(b"\xff" * BLOCK)
            return 0
        return 0


def mount(path, at="/flash"):
    """Mount (formatting a new image) the flash kept in host file `path` at `at`."""
    dev = Flash(path)
    if dev.fresh:
        vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), at)
    return dev
