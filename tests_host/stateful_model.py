"""The host-side model of the whole-meter stateful test: what must hold over a whole run of
one meter, across reboots, fed with every answer of the rig (tests_host/mpy/stateful_rig.py).
A violation has a category (what STATEFUL_IGNORE names) and a message:

- boundaries: `escaped` (an exception left the app's loop: the device would crash),
  `escaped_sim` (left a button, keypad or sim handler), `escaped_console` (left a console
  action other than as its specific error), `handler_raised` (left the command
  handler; the link swallows OSError and ValueError, drops the connection, and the broker
  redelivers), `reject_changed` (a rejected command or console action changed the record,
  the driver's state or emitted an event), `boot_loop`, `loop` (the app stopped progressing);
- records (docs/ledger.md): `record_refused` (the RAM record, saved now, or the flash record
  would be refused and rebuilt), `record_roundtrip` (it reloads different), `record_reload`
  (a clean stop and start changed money, seqs or the txn ring), `record_lost` (a
  store_recovery event), `ledger` (balance != credits - charges - standing - recovered);
- money: `acked_credit_lost` (an acknowledged txn left the ledger's 64-entry ring other than
  by being pushed out), `txn_credited_twice`, `credit_without_event`, `credit_total` (the
  credit total is not the sum of its credit events), `debt_changed` (debt moved other than
  by a recharge's recovery), `debt_recovery` (a recharge recovered more than
  min(amount * debt_pct / 100, debt) or nothing while the period's cap had room,
  docs/tariffs-and-credit.md);
- commands (docs/protocol.md): `accepted_again` (an accepted (id, seq) or a seq not above the
  highest accepted one accepted again), `rejected_then_accepted` (a command once rejected
  accepted later), `unexpected_ack`;
- events: `event_seq_reused` (an event got a seq already published or in the outbox),
  `event_unparsable` (a published event is not one JSON object);
- keypad (docs/offline-topup.md): `token_accepted_twice` (a code accepted and saved before
  accepted again), `token_credited_wrong` (a fresh add code accepted for another amount);
- latches (stateful_rules.py): `latch_rule` (cleared other than by its own rule),
  `latch_vanished` (gone without a clear event), `latch_lost` (gone after a reboot);
  `actuator_not_safe` (relay or valve not following an off supply), and `no_exit`
  (stateful_probe.py: a documented way back to supply that does not work);
- gas (docs/gas.md §1): `gas_valve_driven_open` (the motor drives the valve open outside `on`
  or a running check), `check_without_confirmation` (a leak check not started by the button
  or an allowed selfcheck), `leak_check_short` (passed before check_s seconds of world time
  watched the open valve), `leak_check_flow` (passed with more gas really delivered than
  its budget), `leak_check`, `gas_on_without_check` (supply `on` not right after a pass);
- `secret_printed`: the paygo key (16 hex digits of it) on the console.
"""
import json

from stateful_meter import PAYGO_KEY
import stateful_rules as rules

RING = 64


class Model:
    def __init__(self, kind):
        self.kind = kind
        self.viol = []                 # (category, message)
        self.acked = {}                # txn -> amount the head-end was told is credited
        self.credited = {}             # txn -> amount of its credit event
        self.evicted = 0
        self.max_accepted = 0
        self.accepted = set()
        self.answered = {}             # frame hex -> first answer code
        self.waiting = {}              # command id -> [sent entries not yet answered]
        self.pub = {}                  # published event seq -> (type, ts)
        self.seen = set()              # every event observed (its JSON)
        self.by_id = {}                # command id -> its last sent entry (redeliveries)
        self.st = None                 # the last state summary
        self.had_record = False        # a valid prepay record has been on flash
        self.faults = 0                # flash faults the meter process has seen
        self.faulty_op = -1            # the last operation in which the flash failed
        self.debt_cfgs = {0}           # every debt_minor the head-end configured
        self.world = rules.initial_world(kind)
        self.since = {}                # condition -> mono since which it holds (rules.py)
        self.trips = {}                # latch -> (mono, action, thresholds) when raised
        self.check = None              # gas: the leak check in progress
        self.recovered = []            # (ts, recovered) of every recharge event
        self.max_ts = 0
        self.tok_accepted = set()      # token counts accepted and saved
        self.tok_pending = []
        self.remote_txns = set()
        self.states = set()
        self.ops = 0

    def bad(self, cat, msg):
        self.viol.append((cat, msg))

    # ---- one answer ------------------------------------------------------------------------
    def observe(self, ans, act):
        """ans: the rig's answer; act: what the host did ({"what", "sent", "token", ...})."""
        self.ops += 1
        prev = self.st
        for v in ans.get("viol", ()):
            cat, _, msg = v.partition(": ")
            self.bad(cat, msg)
        rules.world_update(self, act, ans)     # a sim message changes the world first
        end = ans.get("end")
        if end in ("crash", "hang", "died"):
            self.bad("escaped", "%s: %s" % (end, ans.get("detail")))
        latches = set(prev["latches"]) if prev else set()
        cleared = set()
        ring0 = set(prev["txns"]) if prev else set()
        credited_now = set()
        recharges = []
        expect_on = False
        for mono, ctx, ev, tag in ans.get("evts", ()):
            key = json.dumps(ev, sort_keys=True)
            if ctx == "boot" and key in self.seen:
                continue            # still pending in the record: handed over again at boot
            self.seen.add(key)
            t = ev.get("type")
            if t == "store_recovery" and self.had_record:
                # (a cut in the very first save leaves no record, and nothing was lost)
                self.bad("record_lost", "%s at %s" % (ev.get("reason"), ctx))
            elif t == "recharge":
                txn = ev.get("txn")
                if txn in ring0 or txn in credited_now:
                    self.bad("txn_credited_twice", "%s (%s)" % (txn, ev))
                credited_now.add(txn)
                self.credited[txn] = ev.get("amount")
                recharges.append(ev)
            elif t == "alarm" and ev.get("latch"):
                latches.add(ev["name"])
                self.trips[ev["name"]] = (mono, ev.get("action"), dict(prev["thr"]) if prev else {})
            elif t == "alarm_clear" and ev.get("name") in latches:
                # ("boot": an event of the last run, still pending, its boundary unknown)
                why = rules.latch_clear_bad(self, ev["name"], ctx, mono) if ctx != "boot" else None
                if why:
                    self.bad("latch_rule", "%s cleared by %s: %s" % (ev["name"], ctx, why))
                latches.discard(ev["name"])
                cleared.add(ev["name"])
            elif t == "token":
                self._token(ev, act)
            if self.kind == "gas":
                expect_on = rules.gas_event(self, ev, ctx, mono, tag, expect_on)
        self._published(ans.get("pub", ()))
        for a in ans.get("acks", ()):
            self._ack(a)
        st = ans.get("st")
        if st is None:
            return
        if act.get("boot") and prev is not None and self.faulty_op != self.ops - 1:
            # (after an operation where the flash failed, what reached it is not known)
            self._after_boot(prev, st, act, cleared)
        elif not act.get("boot"):
            lost = latches - set(st["latches"])
            if lost:
                self.bad("latch_vanished", "%s gone without a clear event" % sorted(lost))
        act["recharges"] = len(recharges)
        act["recovered"] = sum(ev.get("recovered", 0) for ev in recharges)
        self._money(prev, st, act)
        if len(recharges) == 1 and len(ans.get("acks", ())) <= 1:
            self._recovery(recharges[0], st)
        self._tokens_saved(st)
        # any 16 hex digits of the key on the console is half the key (lines are cut at 80)
        for line in act.get("printed", ()):
            if any(PAYGO_KEY[i:i + 16] in line for i in range(len(PAYGO_KEY) - 15)):
                self.bad("secret_printed", "the paygo key on the console: %s" % line[:60])
                break
        self.had_record = self.had_record or st.get("flash_latches") is not None
        if st.get("faults", 0) > self.faults:
            self.faulty_op = self.ops
        self.faults = st.get("faults", 0) if not act.get("boot") else 0
        rules.track(self, prev, st, act)
        self.st = st
        self.states.add(rules.signature(self.kind, st))

    # ---- pieces ----------------------------------------------------------------------------
    def _after_boot(self, prev, st, act, cleared_in_last):
        # a clean stop saved RAM; a reset, crash or power cut leaves what was on flash
        keep = set(prev["latches"]) if act["boot"] == "clean" else set(
            act.get("flash_latches") or ()) - act.get("cleared_before", set())
        lost = keep - set(st["latches"])
        if lost:
            self.bad("latch_lost", "%s lost by a %s reboot" % (sorted(lost), act["boot"]))
        if act["boot"] == "clean":
            # a clean stop saved everything: the record loads back to the same state
            diff = [k for k in ("bal", "credits", "charges", "standing", "recovered", "debt", "ec",
                                "fired", "last_seq", "txns") if prev[k] != st[k]]
            if st["next_seq"] < prev["next_seq"]:
                diff.append("next_seq")
            if diff:
                self.bad("record_reload", "after a clean stop %s" % ", ".join(
                    "%s %r -> %r" % (k, prev[k], st[k]) for k in diff))

    def _money(self, prev, st, act):
        ring = st["txns"]
        if prev is not None:
            gone = [t for t in prev["txns"] if t not in ring]
            if gone and len(ring) == RING and gone == prev["txns"][:len(gone)]:
                self.evicted += sum(self.credited.get(t, 0) for t in gone)
                for t in gone:
                    self.acked.pop(t, None)
        for txn, amount in self.acked.items():
            if txn not in ring:
                self.bad("acked_credit_lost", "%s (%d) acknowledged, no longer credited" % (txn, amount))
        missing = [t for t in ring if t not in self.credited]
        if missing:
            self.bad("credit_without_event", str(missing))
        want = self.evicted + sum(self.credited.get(t, 0) for t in ring)
        if st["credits"] != want:
            self.bad("credit_total", "credits %d, credit events say %d" % (st["credits"], want))
        # debt changes only at a recharge: minus what it recovered, from the debt before or
        # from a newly configured debt_minor (core/credit.py applies it at the next recharge)
        if prev is not None and not act.get("boot") and act.get("recharges", 0) <= 1:
            took = act.get("recovered", 0)
            self.debt_cfgs.add(st["cfg"]["debt_minor"])
            ok = {prev["debt"]} if not act.get("recharges") else self.debt_cfgs | {prev["debt"]}
            if st["debt"] + took not in ok:
                self.bad("debt_changed", "debt %d -> %d (recovered %d, configured debt_minor %d)" % (
                    prev["debt"], st["debt"], took, st["cfg"]["debt_minor"]))

    def _recovery(self, ev, st):
        """docs/tariffs-and-credit.md: take = min(amount * debt_pct // 100, debt, cap left in
        this period); a period is day, week or month (30) UTC days since 1970."""
        c = st["cfg"]
        amount, took, ts = ev.get("amount", 0), ev.get("recovered", 0), ev.get("ts", 0)
        debt = st["debt"] + took
        want = min(amount * c["debt_pct"] // 100, debt)
        days = {"day": 1, "week": 7, "month": 30}.get(c["debt_cap_period"], 7)
        period = ts // 86400 // days
        if c["debt_cap_minor"]:
            used = sum(r for t, r in self.recovered if t // 86400 // days == period)
            want = min(want, max(0, c["debt_cap_minor"] - used))
        back = ts < self.max_ts         # a clock stepped back never reopens a spent cap
        self.max_ts = max(self.max_ts, ts)
        self.recovered.append((ts, took))
        if took > min(amount * c["debt_pct"] // 100, debt) or took < 0:
            self.bad("debt_recovery", "recovered %d of a %d recharge (debt %d, debt_pct %d)" % (
                took, amount, debt, c["debt_pct"]))
        elif took == 0 and want > 0 and not back:
            self.bad("debt_recovery", "recovered nothing of a %d recharge: debt %d, debt_pct %d, "
                     "cap %d per %s with %d left" % (amount, debt, c["debt_pct"], c["debt_cap_minor"],
                                                     c["debt_cap_period"], want))

    def _published(self, pubs):
        for text in pubs:
            try:
                ev = json.loads(text)
            except ValueError:
                self.bad("event_unparsable", text[:100])
                continue
            key = (ev.get("type"), ev.get("ts"))
            old = self.pub.setdefault(ev.get("seq"), key)
            if old != key:
                self.bad("event_seq_reused", "seq %s was %s, now %s" % (ev.get("seq"), old, key))

    def sent(self, cid, entry):
        if entry["op"] == "recharge" and isinstance(entry["args"], dict):
            self.remote_txns.add(entry["args"].get("txn"))
        self.waiting.setdefault(cid, []).append(entry)
        self.by_id[cid] = entry

    def _ack(self, a):
        cid = a.get("id")
        q = self.waiting.get(cid)
        if q:
            e = q.pop(0)
        elif cid in self.by_id:
            e = self.by_id[cid]     # a second answer: the broker redelivered the command
        else:
            if a.get("ok"):
                self.bad("unexpected_ack", str(a))
            return
        code = a.get("code")
        first = self.answered.setdefault(e["hex"], code)
        if not a.get("ok"):
            return
        if not a.get("dup"):
            key = (cid, e["seq"])
            if key in self.accepted or e["seq"] <= self.max_accepted:
                self.bad("accepted_again", "%s seq %d accepted again (highest accepted %d)" % (
                    e["op"], e["seq"], self.max_accepted))
            if first != "ok":
                self.bad("rejected_then_accepted", "%s seq %d rejected (%s), later accepted" % (
                    e["op"], e["seq"], first))
            self.accepted.add(key)
            self.max_accepted = max(self.max_accepted, e["seq"])
        if e["op"] == "config" and isinstance(e["args"], dict) and \
                isinstance(e["args"].get("debt_minor"), int):
            self.debt_cfgs.add(e["args"]["debt_minor"])
        if e["op"] == "recharge":
            txn = e["args"].get("txn")
            if isinstance(txn, str) and txn not in self.acked:
                self.acked[txn] = e["args"].get("amount")

    def _token(self, ev, act):
        tok = act.get("token")
        if ev.get("result") != "accepted":
            return
        count = ev.get("count")
        if count in self.tok_accepted:
            self.bad("token_accepted_twice", "count %s, accepted and saved before (%s)" % (count, ev))
        # durable once its spent count is on the record (checked with the next state)
        self.tok_pending.append((count, ev.get("amount")))
        if tok and tok[0] == count and tok[3] == "add" and ev.get("amount") != tok[2]:
            remote = "tok-%d" % count in self.remote_txns
            self.bad("token_credited_wrong", "code of count %d worth %d credited %s%s" % (
                count, tok[2], ev.get("amount"),
                " (a remote recharge already used txn tok-%d)" % count if remote else ""))

    def _tokens_saved(self, st):
        pg = st.get("paygo") or {}
        keep = []
        for count, amount in self.tok_pending:
            if pg.get("last", -1) >= count and (not amount or "tok-%d" % count in st["txns"]):
                self.tok_accepted.add(count)
            elif pg.get("last", -1) < count:
                continue            # lost with RAM (power cut before the save): may come again
            else:
                keep.append((count, amount))
        self.tok_pending = keep
