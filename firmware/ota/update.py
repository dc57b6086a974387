# One update in flight (docs/ota.md "Stages"): pull the manifest, check its signature and
# its fields, make room, pull every file (or image block) checking each against the
# manifest, read everything back once more, then report "ready" for the switch.
# The persisted record "ota" (kept by ota/hook.py) says where it is; after a reboot or a
# broker outage the work resumes from there and from what is on flash. step() does a
# bounded amount of work, so the metering loop never waits on an update.
import os
import time
from binascii import a2b_base64

from ota import manifest, rsa
from ota.pull import CHUNK, FilePull, BlockPull, size_of
from ota import slots

REQ_TIMEOUT_MS = 2000           # no answer to a chunk request: ask again, backing off
REQ_TIMEOUT_MAX_MS = 30000
BAD_MAX = 3                     # a file or block that fails its hash this often: give up
BAD_ANSWERS_MAX = 16            # answers of the wrong length in a row: a broken server
WIPE_ENTRIES = 8                # removals per step
RESERVE_BYTES = 65536           # room left after staging: records, outbox (32 KiB), log


class Update:
    def __init__(self, ctx, rec):
        self.ctx = ctx
        self.rec = rec
        self.buf = bytearray(CHUNK)
        self.obj = None
        self.req = None         # [remote, offset, n, t_sent_ms, timeout_ms]
        self.hdr = None
        self.part = None
        self.ver = None         # read-back state (see _verify) or None
        self.bad_answers = 0
        self.incoming = slots.path(ctx.flash, "incoming")

    # ---- the manifest's place and header --------------------------------------------
    def _mpath(self):
        if self.rec.get("type") == "firmware":
            return slots.path(self.ctx.flash, "fw_manifest")
        return slots.path(self.ctx.flash, self.rec["slot"], "OTA_MANIFEST")

    def header(self):
        if self.hdr is None:
            with open(self._mpath(), "rb") as f:
                line = f.readline(manifest.HEADER_MAX + 1)
            self.hdr = manifest.parse_header(line)
            self.hdr["_len"] = len(line)
        return self.hdr

    def line_at(self, off):
        with open(self._mpath(), "rb") as f:
            f.seek(off)
            return f.readline(256)

    def partition(self):
        if self.part is None:
            self.part = self.ctx.partition(self.rec.get("label"))
        return self.part

    # ---- the end of an update -----------------------------------------------------
    def end(self, status, reason=None):
        """Refused, failed or cancelled: report, forget the transfer, keep nothing."""
        from ota.trial import finish
        self.ctx.emit(status, reason=reason)
        for p in (self.incoming, slots.path(self.ctx.flash, "fw_manifest")):
            try:
                os.remove(p)
            except OSError:
                pass
        finish(self.rec, status, reason)
        self.ctx.save()
        self.obj = self.req = None
        return "idle"

    # ---- step -----------------------------------------------------------------------
    def step(self, t_ms):
        """-> "busy" (pulling or waiting for chunks), "ready" (staged and verified: switch
        when allowed) or "idle" (nothing left: ended)."""
        st = self.rec.get("st")
        try:
            if st == "manifest":
                self._pull(t_ms, "MANIFEST", self.incoming, self.rec["msize"])
            elif st == "wipe":
                self._wipe()
            elif st == "fetch":
                self._fetch(t_ms)
            elif st == "verify":
                self._verify()
            elif st == "ready":
                return "ready"
            else:
                return "idle"
        except OSError as e:
            # flash or partition error: give up this update, leave the running bundle alone
            return self.end("failed", "storage_error %s" % (e.args[0] if e.args else ""))
        except ValueError:
            return self.end("failed", "bad_manifest")   # the staged copy no longer parses
        return "busy" if self.rec.get("st") else "idle"

    def _pull(self, t_ms, remote, local, size):
        if self.obj is None:
            self.obj = FilePull(remote, local, size, self.buf)
        if self.obj.want() is None:
            self._done_manifest()
        else:
            self._ask(t_ms)

    def _ask(self, t_ms):
        w = self.obj.want()
        q = self.req
        if q is not None and q[0] == self.obj.remote and q[1] == w[0]:
            if time.ticks_diff(t_ms, q[3]) < q[4]:
                return                          # still waiting for that chunk
            tmo = min(max(q[4], REQ_TIMEOUT_MS // 2) * 2, REQ_TIMEOUT_MAX_MS)
        else:
            tmo = REQ_TIMEOUT_MS
        if not self.ctx.may_pull():
            return
        if self.ctx.send({"u": self.rec["u"], "f": self.obj.remote, "o": w[0], "n": w[1]}):
            self.req = [self.obj.remote, w[0], w[1], t_ms, tmo]

    def on_data(self, h, data, t_ms):
        """A chunk from the server: h = {"u", "f", "o"[, "err"]}. Anything that is not the
        answer to the request in flight is dropped (a late duplicate, a stray)."""
        q = self.req
        if q is None or h.get("u") != self.rec.get("u") or h.get("f") != q[0] or h.get("o") != q[1]:
            return
        if "err" in h:
            e = h["err"]
            self.end("failed", "server %s" % (e[:24] if isinstance(e, str) else "error"))
            return
        if len(data) != q[2]:
            self.bad_answers += 1
            if self.bad_answers >= BAD_ANSWERS_MAX:
                self.end("failed", "bad_chunks")
                return
            q[4] = 0                            # a short or long chunk: ask again at once
            return
        self.bad_answers = 0
        self.req = None
        self.ctx.spent()
        self.obj.put(data)
        st = self.rec.get("st")
        if self.obj.want() is not None:
            self._ask(t_ms)
        elif st == "manifest":
            self._done_manifest()
        elif st == "fetch":
            self._done_piece()

    # ---- manifest -------------------------------------------------------------------
    def _done_manifest(self):
        r = self.rec
        d = self.obj.digest()
        self.obj = None
        try:
            sig = a2b_base64(r["sig"])
        except ValueError:
            sig = b""
        if rsa.verify_any(self.ctx.keys, d, sig) < 0:
            return self.end("refused", "bad_signature")
        try:
            with open(self.incoming, "rb") as f:
                line = f.readline(manifest.HEADER_MAX + 1)
                h = manifest.parse_header(line)
                bs = self.ctx.block_size()
                need = manifest.scan(f, h, bs)
        except ValueError:                 # UnicodeError is one
            return self.end("refused", "bad_manifest")
        why = manifest.check(h, self.ctx.meter(h["type"]), r.get("down"))
        if why:
            return self.end("refused", why)
        r["type"] = h["type"]
        r["ver"] = h["version"]
        r["hs"] = h["health_s"]
        r["loops"] = h["loops"]
        if "floor" in h:
            r["floor_new"] = h["floor"]
        r["done"] = r["pp"] = r["bad"] = 0
        if h["type"] == "firmware":
            try:
                p = self.ctx.partition(None)
                info = p.info()
            except OSError:
                return self.end("refused", "no_ota_partition")
            if info[3] < h["size"]:
                return self.end("refused", "no_space")
            r["label"] = info[4]
            os.rename(self.incoming, slots.path(self.ctx.flash, "fw_manifest"))
            r["st"] = "fetch"
            r["i"] = 0
        else:
            r["need"] = need
            r["st"] = "wipe"
        self.ctx.save()
        self.ctx.emit("accepted", version=h["version"], bytes=h.get("bytes", h.get("size")))

    def _signed(self, path):
        """The file at path is the manifest the announce's signature covers."""
        import hashlib
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while True:
                    k = f.readinto(self.buf)
                    if not k:
                        break
                    h.update(memoryview(self.buf)[:k])
        except OSError:
            return False
        return rsa.verify_any(self.ctx.keys, h.digest(), a2b_base64(self.rec["sig"])) >= 0

    def _wipe(self):
        r = self.rec
        d = slots.path(self.ctx.flash, r["slot"])
        if size_of(self.incoming) < 0:
            # a power cut after the rename below, before the record said so: the manifest
            # is already in the emptied slot (checked again, it is cheap)
            if not self._signed(d + "/OTA_MANIFEST"):
                return self.end("failed", "manifest_lost")
        else:
            if not slots.wipe_some(d, WIPE_ENTRIES):
                return
            free, total = self.ctx.free()
            if free < r.get("need", 0) + RESERVE_BYTES + total // 16:
                return self.end("refused", "no_space")
            slots.mkdirs(d)
            os.rename(self.incoming, d + "/OTA_MANIFEST")
        r.pop("need", None)
        r["st"] = "fetch"
        r["mo"] = self.header()["_len"]
        self.ctx.save()

    # ---- files and blocks -----------------------------------------------------------
    def _fetch(self, t_ms):
        r = self.rec
        if self.obj is None:
            h = self.header()
            if r["type"] == "firmware":
                if r["i"] >= manifest.blocks(h):
                    self._to_verify()
                    return
                self.obj = BlockPull(self.partition(), r["i"], h["size"], manifest.BLOCK)
            else:
                line = self.line_at(r["mo"])
                if not line:
                    self._to_verify()
                    return
                d, size, p = manifest.parse_entry(line)
                self.obj = FilePull(p, slots.path(self.ctx.flash, r["slot"], p), size, self.buf)
        if self.obj.want() is None:
            self._done_piece()
        else:
            self._ask(t_ms)

    def _expected(self):
        r = self.rec
        if r["type"] == "firmware":
            return manifest.parse_block(self.line_at(self.header()["_len"] + 65 * r["i"]))
        line = self.line_at(r["mo"])
        return manifest.parse_entry(line)[0], len(line)

    def _done_piece(self):
        r = self.rec
        o = self.obj
        self.obj = None
        if r["type"] == "firmware":
            want, step = self._expected(), 0
        else:
            want, step = self._expected()
        if o.digest() != want:
            o.discard()
            r["bad"] = r.get("bad", 0) + 1
            if r["bad"] >= BAD_MAX:
                self.end("failed", "bad_data")
            return
        r["bad"] = 0
        r["done"] = r.get("done", 0) + o.size
        if r["type"] == "firmware":
            r["i"] += 1
        else:
            r["mo"] += step
        self.ctx.save()
        h = self.header()
        total = h.get("bytes") or h.get("size")
        pct = r["done"] * 100 // total
        if pct >= r.get("pp", 0) + 25 and pct < 100:
            r["pp"] = pct - pct % 25
            self.ctx.emit("progress", got=r["done"], total=total)

    def _to_verify(self):
        self.rec["st"] = "verify"
        self.rec["vo"] = self.header()["_len"] if self.rec["type"] != "firmware" else 0
        self.ver = None
        self.ctx.save()

    # ---- read back (ota/readback.py) -------------------------------------------------
    def _verify(self):
        from ota import readback
        if self.rec["type"] == "firmware":
            return readback.image(self)
        return readback.files(self)

    def mark_ready(self):
        self.rec["st"] = "ready"
        self.rec.pop("vo", None)
        self.ctx.save()
        self.ctx.emit("staged", version=self.rec.get("ver"))
