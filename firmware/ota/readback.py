# The read-back of a staged update (docs/ota.md "Stages"): every file (or image block) is
# read from flash once more and hashed against the manifest before the switch, a bounded
# amount per step. A mismatch sends that file or block back to the transfer.
import hashlib
import os

from ota import manifest, slots
from ota.pull import hash_block

VERIFY_BYTES = 8192             # read back per step
BAD_MAX = 3                     # the same as ota/update.py: a piece failing this often ends it


def files(u):
    """One step of the read-back of a bundle's files."""
    r = u.rec
    budget = VERIFY_BYTES
    while budget > 0:
        if u.ver is None:
            line = u.line_at(r["vo"])
            if not line:
                return verified(u)
            want, size, p = manifest.parse_entry(line)
            # [path, hash so far, bytes read, size, digest, line length]; the file is
            # opened per step, never left open between steps
            u.ver = [slots.path(u.ctx.flash, r["slot"], p), hashlib.sha256(), 0,
                     size, want, len(line)]
        v = u.ver
        try:
            with open(v[0], "rb") as f:
                f.seek(v[2])
                while budget > 0:
                    k = f.readinto(u.buf)
                    if not k:
                        break
                    v[1].update(memoryview(u.buf)[:k])
                    v[2] += k
                    budget -= k
        except OSError:
            return refetch(u, r["vo"])
        if budget > 0 or v[2] > v[3]:
            u.ver = None
            if v[2] != v[3] or v[1].digest() != v[4]:
                return refetch(u, r["vo"])
            r["vo"] += v[5]


def refetch(u, off):
    r = u.rec
    line = u.line_at(off)
    try:
        os.remove(slots.path(u.ctx.flash, r["slot"], manifest.parse_entry(line)[2]))
    except OSError:
        pass
    u.ver = None
    r["st"] = "fetch"
    r["mo"] = off
    r["bad"] = r.get("bad", 0) + 1
    if r["bad"] >= BAD_MAX:
        return u.end("failed", "bad_data")
    u.ctx.save()


def verified(u):
    r = u.rec
    d = slots.path(u.ctx.flash, r["slot"])
    # the manifest's files and nothing else: the slot was emptied before the transfer
    n = 0
    for p in slots.walk(d):
        n += 1
    if n != u.header()["files"] + 1:
        return u.end("failed", "stray_files")   # cannot happen after a full wipe
    u.mark_ready()


def image(u):
    """One step of the read-back of a firmware image, block by block."""
    r = u.rec
    h = u.header()
    part = u.partition()
    i = r.get("vo", 0)
    n = manifest.blocks(h)
    for _ in range(VERIFY_BYTES // manifest.BLOCK):
        if i >= n:
            return u.mark_ready()
        size = min(manifest.BLOCK, h["size"] - i * manifest.BLOCK)
        want = manifest.parse_block(u.line_at(h["_len"] + 65 * i))
        if hash_block(part, i, size, u.buf) != want:
            r["i"] = i
            r["st"] = "fetch"
            r["bad"] = r.get("bad", 0) + 1
            if r["bad"] >= BAD_MAX:
                return u.end("failed", "bad_data")
            u.ctx.save()
            return
        i += 1
        r["vo"] = i
