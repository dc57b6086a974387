# The floors a rebuilt prepay record must never lower (docs/protocol.md §3 and §6), kept in
# their own small record "floor", apart from the prepay record, so that a prepay record
# refused at boot (and rebuilt fresh) cannot reopen them:
#   cmd  the highest command seq the meter has used up. A command's seq is used up
#        (written here) before the command is applied, whatever its outcome, so a command
#        once answered is never applied later: not after a refusal, not after a rebuild.
#   evt  the event seqs reserved for events handed to the outbox. Reserved EVT_BLOCK at a
#        time before an event leaves the meter (one small write per block), so after any
#        power cut or rebuild the next event seq is above every seq the head-end has seen.
from micropython import const
from core.check import is_int

RECORD = "floor"
EVT_BLOCK = const(64)


def _seq(v):
    return v if is_int(v) and v >= 0 else 0


class Floor:
    def __init__(self, store):
        self.store = store
        d = store.load(RECORD) or {}
        self.cmd = _seq(d.get("cmd"))
        self.evt = _seq(d.get("evt"))

    def _write(self, cmd, evt):
        self.store.save(RECORD, {"cmd": cmd, "evt": evt})   # OSError: nothing changed in RAM
        self.cmd = cmd
        self.evt = evt

    def rewrite(self):
        """Write the floors again (after a failed write: the app's storage_fault retry)."""
        self._write(self.cmd, self.evt)

    def use_cmd(self, seq):
        """Command seq `seq` is used up from now on (durable before this returns)."""
        if seq > self.cmd:
            self._write(seq, self.evt)

    def reserve_evt(self, upto_seq):
        """Event seqs up to upto_seq may leave the meter (durable before this returns)."""
        if upto_seq > self.evt:
            self._write(self.cmd, upto_seq + EVT_BLOCK - 1)
