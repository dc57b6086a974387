# The shell's side of the MQTT link (docs/protocol.md): the link's callbacks (commands in,
# acks out, the sim topic), the outbox pump (events out, one QoS 1 PUBLISH in flight), the
# retained state and telemetry, and a sleeping meter's radio sessions. A base class of App
# (app.py): these are App's own methods, in a file of their own.
import json
import time
from core.commands import supply_state
import app_safety
import app_net

REBOOT = 3              # run() result: the `reboot` op asked for a restart
SESSION_MAX_MS = 30000  # water: a session ends at the latest after this (real ms; the
                        # driver's session_max_ms() when it has one)
SESSION_QUIET_MS = 1500 # ... or once the outbox is empty and nothing has come in for this
                        # long after CONNACK and the SUBACK (queued commands arrive then)
SUB_ALARM = "subscribe_refused"   # the broker refused the cmd subscription (an ACL)


class AppLink:
    def _on_connect(self, link):
        self.inflight = None             # resend the outbox head: the cloud dedupes by seq
        self.last_state = None           # retained state on every connect
        if self.session_ms is not None:  # a session's time counts from the connect, not
            self.session_ms = self.clock.ticks_ms()   # from a slow radio bring-up
        now = self.clock.now_s()
        self.publish_state(now)
        if not self.always_online:
            self._telemetry(now)         # water: a session is its only chance to report

    def _on_suback(self, topic, granted):
        # commands cannot arrive on a refused subscription: an alarm the head-end sees in the
        # retained state and the outbox (the link retries the SUBSCRIBE with backoff)
        now = self.clock.now_s()
        p = self.prepay
        if not granted and SUB_ALARM not in p.alarms:
            p.alarm(SUB_ALARM, now, topic=topic.decode())
        elif granted and SUB_ALARM in p.alarms:
            p.alarm_clear(SUB_ALARM, now)
        self.drain(now)
        self.publish_state(now)

    def _on_puback(self, pid):
        f = self.inflight
        if f and f[0] == pid:
            self.inflight = None
            try:
                self.outbox.acked(f[1])
            except OSError:
                pass                      # ack pointer not written: Store.failing, retried

    def _on_message(self, topic, payload, retained):
        now = self.clock.now_s()
        t = topic.decode() if isinstance(topic, bytes) else topic
        if t == self.topic + "cmd":
            if retained:
                return                    # never obey a retained command: a retained one would re-run at every connect (docs/protocol.md §1)
            if payload is None:
                ack = self.commands.too_large(now)
            else:
                ack = self.commands.handle(payload, now, self.clock.ticks_ms())
            if ack is None:
                return
            self.link.publish_now(self.topic + "ack", json.dumps(ack).encode(), qos=1)
            if ack["ok"]:                 # act on it now (a water meter's valve), not at the
                self.next_tick_s = min(self.next_tick_s, now + 1)    # next timer wake
            if self.commands.reboot_requested or self._clock_stepped(now):
                self.stop_code = REBOOT
        elif t == self.topic + "sim":
            try:
                self._sim(json.loads(payload), now)
            except (ValueError, TypeError) as e:
                self.prepay.emit("sim_rejected", now, reason=str(e)[:60])
            except Exception as e:        # a driver bug: contained like a failed tick
                app_safety.tick_fault(self, "sim", e, now)
        try:
            self.drain(now)
        except Exception as e:
            app_safety.tick_fault(self, "shell", e, now)

    def _clock_stepped(self, now):
        """After a command: keep a step of the clock (the signed `time` op) in the clock
        record at once. -> True when it rewound the wall clock (a signed step back past an
        unauthenticated time, docs/protocol.md op time): the meter restarts once the ack is
        out, so no part keeps a schedule in the wall time it had."""
        after = self.clock.now_s()
        try:
            self.clock_floor.maybe_save(after)
        except OSError:
            pass                         # retried at the next tick
        return after < now

    def _sim(self, msg, now):
        if not isinstance(msg, dict):
            raise ValueError("sim message must be an object")
        rest = dict(msg)
        b = rest.pop("button", None)
        k = rest.pop("keypad", None)
        # validate every field before acting on any (a bad field must not press the button)
        if b is not None and b != "press":
            raise ValueError("button must be \"press\"")
        if b is not None and self.minimal:
            raise ValueError("minimal mode: the button is held")   # no driver code runs
        if k is not None:
            if not isinstance(k, str) or not k or [c for c in k if c not in "0123456789*#"]:
                raise ValueError("keypad must be a string of digits")
            if self.token_entry is None:
                raise ValueError("no keypad: config.json has no paygo")
        if rest:
            self.driver.sim(rest)        # the driver validates all its fields, then applies
        if b is not None:
            self.driver.button(now)
        if k is not None:
            self.token(k, now)
        # a button or magnet may wake the meter at once: do not wait for the scheduled tick
        self.next_tick_s = min(self.next_tick_s, now + max(1, self.driver.period_s()))

    def drain(self, now):
        p = self.prepay
        evs = p.pending_events()
        if not evs:
            return
        done = 0
        try:
            # each seq durable (reserved in the floor record) before its event can leave
            p.floor.reserve_evt(evs[-1]["seq"])
            for e in evs:
                self.outbox.append(e)   # durable before it counts as delivered
                done = e["seq"]
                self.eventlog.append(e)
        except OSError as e:
            # flash full or failing: the rest stay pending (in RAM, and in the prepay record
            # when it saves) and the next drain retries; metering and safety go on, and
            # storage_fault stands until the outbox is written again
            self.store.failing["outbox.log"] = e.args[0] if e.args else 0
        else:
            self.store.failing.pop("outbox.log", None)
        if done:
            p.events_delivered(done)

    def _pump(self):
        if self.inflight is None and self.link.up():
            h = self.outbox.head()
            if h:
                pid = self.link.publish_now(self.topic + "evt", h[1], qos=1)
                if pid:
                    self.inflight = (pid, h[0])

    def publish_state(self, now):
        p = self.prepay
        key = (supply_state(p), tuple(sorted(p.alarms)))
        if key == self.last_state or not self.link.up():
            return
        self.last_state = key
        st = {"online": True, "ts": now, "kind": self.kind, "fw": self.commands.fw, "supply": key[0],
              "alarms": list(key[1]), "balance": p.balance_minor, "net": app_net.info(self)}
        self.link.publish_now(self.topic + "state", json.dumps(st).encode(), qos=1, retain=True)

    def _telemetry(self, now):
        p = self.prepay
        t = {"ts": now, "balance": p.balance_minor, "supply": supply_state(p),
             "price": p.price_now(now), "register": getattr(p, "register", 0),
             "net": app_net.info(self)}
        t.update(self.driver.telemetry(now))
        # the link's counters since boot, zeros left out (docs/protocol.md §7)
        t["link"] = dict((k, v) for k, v in self.link.stats().items() if v)
        self.link.publish_now(self.topic + "tele", json.dumps(t).encode(), qos=0)

    def _session_start(self, now):
        # water (ALWAYS_ONLINE False): asked BEFORE the app drains the events, so the driver
        # sees the new ones (warnings, alarms) in prepay.pending_events()
        if self.session_ms is None and self.driver.session_due(now):
            self.session_ms = self.clock.ticks_ms()
            self.link.want = True

    def _session(self):
        # ... collect queued commands, flush the outbox, then say "asleep" and disconnect.
        # The quiet window counts from CONNACK / SUBACK / the last packet in, never from the
        # session start: a slow connect (TLS on an ESP32) must not cut the session at CONNACK
        link = self.link
        if self.session_ms is None:
            return
        age = time.ticks_diff(self.clock.ticks_ms(), self.session_ms)
        drained = link.up() and not len(self.outbox) and self.inflight is None
        idle = (drained and link.settled() and not link.pending_tx()
                and link.quiet_ms() >= SESSION_QUIET_MS)
        if self.ota is not None and self.ota.busy():
            idle = False                 # an update is pulling chunks this session
        cap = getattr(self.driver, "session_max_ms", None)
        if idle or age > (cap() if cap else SESSION_MAX_MS):
            now = self.clock.now_s()
            if link.up():
                st = {"online": False, "asleep": True, "ts": now,
                      "next_session_s": now + max(1, self.driver.period_s())}
                if link.publish_now(self.topic + "state", json.dumps(st).encode(), qos=1,
                                    retain=True) is None:
                    link.close()     # not queued: no DISCONNECT, so the will says offline
                self.last_state = None
            link.want = False
            self.session_ms = None
            # not delivered (no broker, outbox left): the driver retries with backoff, so the
            # next wake may come sooner than the one planned at the last tick
            self.driver.session_end(now, drained)
            self.next_tick_s = min(self.next_tick_s, now + max(1, self.driver.period_s()))
