# Local ring log of the last N events for the technician (service console), persisted
# as its own record. Events already carry their seq (from Prepay.emit); the log keeps
# them in order and drops the oldest. Writes are batched: at most one save per
# SAVE_EVERY_S of (simulated) time unless forced, so a burst of events costs one
# flash write. Events in RAM but not yet saved are lost at a power cut; that is
# acceptable because every event is also in the prepay record's pending list until
# the outbox holds it durably.
from micropython import const
from core.check import int_in

KEEP = const(100)
SAVE_EVERY_S = const(60)
RECORD = "events"


class EventLog:
    def __init__(self, store, keep=KEEP):
        int_in(keep, "keep", 1, 1000)
        self.store = store
        self.keep = keep
        self.events = []
        self.dirty = False
        self.saved_s = None
        d = store.load(RECORD)
        if d is not None:
            evs = d.get("ev")
            if isinstance(evs, list):
                last = -1
                for e in evs[-keep:]:
                    # a record that passed its CRC is ours; still keep only well-formed,
                    # strictly increasing entries rather than crash on a bad one
                    if isinstance(e, dict) and isinstance(e.get("seq"), int) and e["seq"] > last:
                        self.events.append(e)
                        last = e["seq"]

    def last_seq(self):
        return self.events[-1]["seq"] if self.events else -1

    def append(self, ev):
        if not isinstance(ev, dict):
            raise ValueError("event must be a dict")
        seq = ev.get("seq")
        int_in(seq, "event seq")
        if seq <= self.last_seq():
            return False  # already logged (re-drained after a reboot)
        self.events.append(ev)
        if len(self.events) > self.keep:
            self.events.pop(0)
        self.dirty = True
        return True

    def maybe_save(self, now_s, force=False):
        if not self.dirty:
            return False
        if not force and self.saved_s is not None and 0 <= now_s - self.saved_s < SAVE_EVERY_S:
            return False
        self.store.save(RECORD, {"ev": self.events})
        self.dirty = False
        self.saved_s = now_s
        return True

    def tail(self, n=10):
        return self.events[-n:]
