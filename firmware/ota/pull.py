# Pieces of an update being pulled (docs/ota.md "Transfer"): a file of a bundle (or the
# manifest) into the flash filesystem, or one 4 KiB block of a firmware image into an
# esp32.Partition. Each is written chunk by chunk (<= CHUNK bytes) and hashed as it goes;
# nothing holds a whole file. A file resumes from what is on flash (re-hashed from the
# start); a block restarts (it is erased anyway).
import hashlib
import os


CHUNK = 1024
ERASE = 6                       # vfs.AbstractBlockDev ioctl: erase one block


def size_of(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


class FilePull:
    def __init__(self, remote, path, size, buf):
        from ota.slots import mkdirs
        self.remote = remote
        self.path = path
        self.size = size
        have = size_of(path)
        if have > size:
            os.remove(path)
            have = -1
        if have < 0:
            mkdirs(path.rsplit("/", 1)[0])
            open(path, "wb").close()
            have = 0
        self.h = hashlib.sha256()
        self.got = 0
        if have:
            with open(path, "rb") as f:
                while self.got < have:
                    k = f.readinto(buf)
                    if not k:
                        break
                    k = min(k, have - self.got)
                    self.h.update(memoryview(buf)[:k])
                    self.got += k

    def want(self):
        """(offset, length) of the next chunk, or None when complete."""
        left = self.size - self.got
        return (self.got, min(CHUNK, left)) if left > 0 else None

    def put(self, data):
        with open(self.path, "ab") as f:
            f.write(data)
        self.h.update(data)
        self.got += len(data)

    def digest(self):
        return self.h.digest()

    def discard(self):
        try:
            os.remove(self.path)
        except OSError:
            pass


class BlockPull:
    """Block `block` of an image of `image_size` bytes, into partition `part` (its native
    4 KiB blocks: ioctl erase, then the extended writeblocks(block, buf, offset))."""

    def __init__(self, part, block, image_size, block_size):
        self.part = part
        self.block = block
        self.remote = "IMAGE"
        self.base = block * block_size
        self.size = min(block_size, image_size - self.base)
        part.ioctl(ERASE, block)
        self.h = hashlib.sha256()
        self.got = 0

    def want(self):
        left = self.size - self.got
        return (self.base + self.got, min(CHUNK, left)) if left > 0 else None

    def put(self, data):
        self.part.writeblocks(self.block, data, self.got)
        self.h.update(data)
        self.got += len(data)

    def digest(self):
        return self.h.digest()

    def discard(self):
        pass


def hash_block(part, block, n, buf):
    """SHA-256 of the first n bytes of a partition block, read back in CHUNK pieces."""
    h = hashlib.sha256()
    off = 0
    while off < n:
        k = min(len(buf), n - off)
        mv = memoryview(buf)[:k]
        part.readblocks(block, mv, off)
        h.update(mv)
        off += k
    return h.digest()
