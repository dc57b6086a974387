# Switch, probation, commit and rollback (docs/ota.md "Switch and probation").
#
# Bundle: switch = one pointer write {"active": new, "good": old, "trial": true}, then a
# reboot into the new bundle. On probation it must, within health_s seconds of the switch:
#   - make a signed round trip with the head-end: its `ota trial` event delivered (PUBACK)
#     and a signed command from the head-end accepted after this boot;
#   - pass `loops` loop passes cleanly in this boot;
#   - never crash (firmware/loader.py runs the good bundle after one crash, or after
#     BOOTS_MAX boots without a commit).
# Then commit = one pointer write {"active": new, "good": new, "trial": false}. Otherwise
# rollback = one pointer write {"active": old, "good": old} and a reboot; the old bundle
# reports `ota rolled_back` with the reason. Firmware images follow the same rules through
# esp32.Partition: set_boot() to switch, mark_app_valid_cancel_rollback() to commit, the
# previous partition's set_boot() (or the bootloader's own rollback) to go back.
import time

from ota import slots

# keys of one update in flight, dropped when it ends
TRANSIENT = ("st", "sig", "msize", "type", "slot", "mo", "i", "bad", "done", "pp", "label",
             "ver", "apply", "down", "hs", "loops", "floor_new", "need", "vo", "t0", "tes",
             "why", "from")


def finish(rec, status, reason=None):
    rec["last"] = {"u": rec.get("u"), "status": status, "reason": reason, "ver": rec.get("ver")}
    for k in TRANSIENT:
        rec.pop(k, None)


class Trial:
    def __init__(self, ota):
        self.ota = ota
        self.active = False         # this boot runs an update on probation
        self.loops = 0
        self.seq0 = 0
        self.mono0 = 0
        self.pre_s = 0

    def _app(self):
        return self.ota.app

    def wants_link(self):
        return self.active and not self._round_trip()

    # ---- at start-up: finish whatever a reboot or power cut interrupted ------------------
    def on_boot(self, now_s):
        o = self.ota
        r = o.rec
        st = r.get("st")
        if st in ("fw_trial", "fw_rollback"):
            return self._fw_boot(now_s)
        p = slots.pointer(o.store)
        run = slots.running()
        if p.get("missing") and st in ("switch", "trial", "rollback"):
            # deployed by cable meanwhile (tools/deploy.py removes the pointer): that bundle
            # runs, and this update is over
            o.emit("cancelled", now_s, reason="deployed")
            finish(r, "cancelled", "deployed")
            slots.clear_trial(o.flash)
            return o.save()
        if p["trial"]:
            if run == p["active"]:
                if st not in ("switch", "trial"):
                    r["st"] = "switch"              # the record was lost: probation anyway
                return self._start(now_s)
            # the loader ran the good bundle: a crash, or too many boots on probation
            if st != "rollback":
                r["st"] = "rollback"
                r["why"] = slots.loader_reason() or "crash"
                o.save()
            slots.write(o.store, run, run, False, p.get("u"))
            return self._rolled_back(now_s)
        if st == "trial" and p["active"] == run:
            return self._committed(now_s)           # cut after the commit's pointer write
        if st == "rollback":
            return self._rolled_back(now_s)
        if st == "switch":
            r["st"] = "ready"                       # cut before the switch's pointer write
            o.save()

    def _start(self, now_s):
        o = self.ota
        r = o.rec
        a = self._app()
        self.active = True
        self.loops = 0
        self.seq0 = a.prepay.cmd.get("last_seq", 0)
        # the window runs on the monotonic clock within this boot (a `time` op or network
        # time moving the wall clock neither ends it nor stretches it); only the reboot
        # between the switch and this boot is taken from the wall clock, bounded
        self.mono0 = a.clock.mono_s()
        self.pre_s = min(max(now_s - r.get("t0", now_s), 0), r.get("hs", 600))
        if r.get("st") == "switch" or "tes" not in r:
            r["st"] = "fw_trial" if r.get("type") == "firmware" else "trial"
            r["tes"] = o.emit("trial", now_s, version=r.get("ver"))["seq"]
            o.save()
        if not a.always_online and a.session_ms is None:
            a.session_ms = a.clock.ticks_ms()       # a sleeping meter goes online to prove itself
            a.link.want = True

    # ---- the switch -----------------------------------------------------------------
    def switch(self, now_s):
        o = self.ota
        r = o.rec
        if r.get("type") == "firmware":
            return self._fw_switch(now_s)
        r["st"] = "switch"
        r["t0"] = now_s
        o.save()
        slots.clear_trial(o.flash)                  # a fresh count for this probation
        # "good" is the bundle running now: it pulled and checked this update, so it works
        slots.write(o.store, r["slot"], slots.running(), True, r["u"])
        self._reboot()

    def _reboot(self):
        self._app().stop_code = self.ota.reboot_code

    # ---- probation --------------------------------------------------------------------
    def _round_trip(self):
        a = self._app()
        r = self.ota.rec
        return (a.prepay.cmd.get("last_seq", 0) > self.seq0 and
                a.outbox.acked_seq >= r.get("tes", 1 << 60))

    def step(self, now_s):
        if not self.active:
            return
        a = self._app()
        r = self.ota.rec
        self.loops += 1
        if a.minimal or slots.crashes(self.ota.flash):
            return self.rollback(now_s, "crash")
        if self._round_trip() and self.loops >= r.get("loops", 1):
            return self.commit(now_s)
        if self.pre_s + a.clock.mono_s() - self.mono0 >= r.get("hs", 600):
            miss = []
            if not self._round_trip():
                miss.append("round_trip")
            if self.loops < r.get("loops", 1):
                miss.append("loops")
            self.rollback(now_s, "health_timeout", ",".join(miss))

    def commit(self, now_s):
        o = self.ota
        r = o.rec
        self.active = False
        if r.get("type") == "firmware":
            import esp32
            try:
                esp32.Partition.mark_app_valid_cancel_rollback()
            except OSError as e:        # -261: a bootloader without rollback: nothing to cancel
                print("ota: mark_app_valid: %r" % (e,))
            r["fwv"] = r.get("ver")
        else:
            run = slots.running()
            slots.write(o.store, run, run, False, r.get("u"))
        self._committed(now_s)

    def _committed(self, now_s):
        o = self.ota
        r = o.rec
        slots.clear_trial(o.flash)
        fl = r.get("floor_new")
        if fl:
            from ota.manifest import vtuple
            floors = r.setdefault("floor", {})
            k = r.get("type") or "bundle"
            if vtuple(fl) > vtuple(floors.get(k) or "0.0.0"):
                floors[k] = fl
        # the event first: a cut before the record write below commits (and reports) again
        o.emit("committed", now_s, version=r.get("ver"))
        finish(r, "committed")
        o.save()

    def rollback(self, now_s, reason, missing=None):
        o = self.ota
        r = o.rec
        self.active = False
        r["why"] = reason + (":" + missing if missing else "")
        if r.get("type") == "firmware":
            r["st"] = "fw_rollback"
            o.save()
            try:
                import esp32
                esp32.Partition(r["from"]).set_boot()
            except (OSError, KeyError) as e:
                # not marked valid: the bootloader goes back by itself at the reset
                print("ota: set_boot(previous): %r" % (e,))
        else:
            p = slots.pointer(o.store)
            r["st"] = "rollback"
            o.save()
            slots.write(o.store, p["good"], p["good"], False, p.get("u"))
        self._reboot()

    def _rolled_back(self, now_s):
        o = self.ota
        r = o.rec
        slots.clear_trial(o.flash)
        why = r.get("why") or "crash"
        o.emit("rolled_back", now_s, reason=why, version=r.get("ver"))   # event first, as above
        finish(r, "rolled_back", why)
        o.save()

    # ---- whole firmware (esp32.Partition) ------------------------------------------------
    def _fw_switch(self, now_s):
        import esp32
        o = self.ota
        r = o.rec
        P = esp32.Partition
        try:
            r["from"] = P(P.RUNNING).info()[4]
            P(r["label"]).set_boot()        # ESP-IDF validates the image here
        except OSError as e:
            from ota.update import Update
            Update(o, r).end("failed", "set_boot %s" % (e.args[0] if e.args else ""))
            return
        r["st"] = "fw_trial"
        r["t0"] = now_s
        r.pop("tes", None)
        o.save()
        self._reboot()

    def _fw_boot(self, now_s):
        import esp32
        r = self.ota.rec
        run = esp32.Partition(esp32.Partition.RUNNING).info()[4]
        if r["st"] == "fw_trial" and run == r.get("label"):
            return self._start(now_s)
        if r["st"] == "fw_trial":
            r["why"] = "bootloader"     # it went back to the previous image by itself
        try:
            # the previous image runs again: confirm it, or a bootloader that set_boot()
            # marked "new" would give up on it at the next reset (docs/library/esp32.rst)
            esp32.Partition.mark_app_valid_cancel_rollback()
        except OSError as e:
            print("ota: mark_app_valid: %r" % (e,))
        return self._rolled_back(now_s)
