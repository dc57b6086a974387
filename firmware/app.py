# The shell (docs/architecture.md "The app loop"): loads config.json, builds store, prepay,
# board, driver, outbox and link, and runs the loop. Metering and safety run first on every
# tick and never wait on the network: link.service() is non-blocking.
import gc
import json
import time
from core.store import Store
from core.prepay import Prepay
from core.eventlog import EventLog
from core.commands import Commands, supply_state
from link.outbox import Outbox
from link.mqtt import Link
from core import frame
from core.check import int_in, is_id
import app_safety
import app_net

try:
    from fw_version import FW   # written into a bundle by tools/ota.py build (docs/ota.md)
except ImportError:
    FW = "1.0.0"
APP = None              # the running App, for the technician console (service.py)
REBOOT = 3              # run() result: the `reboot` op asked for a restart
REPORT_S = 60           # default telemetry interval, sim seconds (config op "report_s")
SESSION_MAX_MS = 30000  # water: a session ends at the latest after this (real ms; the
                        # driver's session_max_ms() when it has one)
SESSION_QUIET_MS = 1500 # ... or once the outbox is empty and nothing has come in for this
                        # long after CONNACK and the SUBACK (queued commands arrive then)
SUB_ALARM = "subscribe_refused"   # the broker refused the cmd subscription (an ACL)
BUSY_MS = 20            # loop pace while a session or the keypad LED is running
WDT_FEED_MS = 1000      # longest sleep with a watchdog (hal/guard.py: 30 s timeout)

# Default flat tariffs when config.json has none (price_micro per Wh / litre):
# 0.25 per kWh, 2.00 per m3 of water, 1.00 per m3 of gas, in minor units of 1/100.
DEFAULT_TARIFF = {"electricity": {"price": 25000}, "water": {"price": 200000},
                  "gas": {"price": 100000}}


def _bad(msg):
    raise ValueError("invalid config.json: " + msg)


def load_config(flash):
    """config.json -> dict; ValueError with a clear reason when missing or invalid."""
    path = flash.rstrip("/") + "/config.json"
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ValueError("missing %s (provision it: tools/headend.py provision <dir>)" % path)
    try:
        c = json.loads(text)
    except ValueError:
        _bad("not JSON")
    if not isinstance(c, dict):
        _bad("not a JSON object")
    if not is_id(c.get("id")):
        _bad("id must be 1-40 chars of [A-Za-z0-9_.:-]")
    if c.get("kind") not in ("electricity", "water", "gas"):
        _bad("kind must be electricity, water or gas")
    try:
        frame.parse_key(c.get("key"))
    except ValueError:
        _bad("key must be 64 hex characters")
    b = c.get("broker")
    if not isinstance(b, str) or not (b.startswith("mqtt://") or b.startswith("mqtts://")):
        _bad("broker must be mqtt://host:port or mqtts://host:port")
    root = c.get("root", "meters")
    if not isinstance(root, str) or not root or [x for x in root if x in "#+"] or root.endswith("/"):
        _bad("root must be a topic prefix without wildcards")
    if c.get("board", "sim") != "sim" and "sim_speed" in c:
        _bad("sim_speed is for the sim board only")
    for k in ("username", "password"):
        v = c.get(k)
        if v is not None and (not isinstance(v, str) or not 1 <= len(v) <= 128):
            _bad(k + " must be a string of 1-128 characters")
    for k in ("config", "tariff", "tls"):
        if k in c and not isinstance(c[k], dict):
            _bad(k + " must be an object")
    for k, lo, hi in (("sim_speed", 1, 1000000), ("keepalive_s", 5, 3600), ("backoff_max_s", 1, 3600)):
        if c.get(k) is not None:
            try:
                int_in(c[k], k, lo, hi)
            except ValueError as e:
                _bad(str(e))
    return c


def broker(conf, flash):
    """-> (host, port, ssl context or None) from "broker" and the optional "tls" object
    {"ca": file, "cert": file, "key": file} (paths relative to the flash dir)."""
    u = conf["broker"]
    secure = u.startswith("mqtts://")
    hp = u.split("://", 1)[1].split("/", 1)[0]
    host, _, port = hp.rpartition(":")
    if not host:
        host, port = hp, ""
    try:
        port = int(port) if port else (8883 if secure else 1883)
    except ValueError:
        _bad("broker port must be a number")
    if not host or not 0 < port < 65536:
        _bad("broker must be mqtt://host:port")
    if not secure:
        return host, port, None
    # link/tls.py builds the context on the port's built-in `tls` module (the `ssl` wrapper is
    # frozen and MICROPYPATH hides it) and turns PEM files into the DER this mbedTLS reads
    from link import tls

    def read(name):
        with open(name if name.startswith("/") else flash.rstrip("/") + "/" + name, "rb") as f:
            return f.read()
    try:
        ctx = tls.context(conf.get("tls") or {}, read)
    except ValueError as e:
        _bad(str(e))
    return host, port, ctx


class App:
    def __init__(self, flash):
        global APP
        self.flash = flash
        self.conf = conf = load_config(flash)
        self.id = conf["id"]
        self.kind = conf["kind"]
        self.key = frame.parse_key(conf["key"])
        # the TLS context first, into a heap not yet fragmented by the rest of the build
        # (its ~3 KiB blocks failed on the unix port once everything else was in place)
        host, port, tls = broker(conf, flash)
        self.store = Store(flash)
        import board
        self.board_mod = board
        floor = (self.store.load("clock") or {}).get("t", 0)
        self.clock = board.clock(conf, floor)
        now = self.clock.now_s()
        cfg = dict(conf.get("config") or {})
        cfg["tariff"] = conf.get("tariff") or cfg.get("tariff") or DEFAULT_TARIFF[self.kind]
        if conf.get("paygo") or cfg.get("paygo"):     # issue: "paygo" at the top of config.json
            cfg["paygo"] = conf.get("paygo") or cfg.get("paygo")
        if "ota" in conf:
            from ota.formats import migrate
            migrate(self.store)      # records in this bundle's formats first (docs/ota.md)
        mod = __import__("meters." + self.kind, None, None, ("Driver",))
        Driver = mod.Driver
        # the outbox first: its highest seq is the floor of the next event seq, so an event
        # numbered before a power cut (or a rebuilt record) is never numbered again
        self.outbox = Outbox(flash, self.store)
        self.prepay = Prepay(self.store, self.kind, cfg, now, arms=True if Driver.ARMS else None,
                             seq_floor=self.outbox.last_seq)
        self.board = board.make(self.kind, cfg, self.clock)
        self.net = app_net.start(board, conf, self.clock)   # config.json "net" (ValueError)
        self.driver = Driver(self.prepay, self.board, cfg, self.store)
        self.eventlog = EventLog(self.store)
        self.commands = Commands(self.id, self.key, self.prepay, self.driver, self.clock, fw=FW)
        self.cfg = cfg
        self.token_entry = None
        if cfg.get("paygo"):
            from paygo.entry import TokenEntry, LOCK_ALARM   # ValueError on a bad paygo config: exit 2
            self.token_entry = TokenEntry(self.prepay, cfg, led=getattr(self.board, "led", None))
            self.commands.alarm_owners[LOCK_ALARM] = self.token_entry   # the remote clear
        root = conf.get("root", "meters")
        self.topic = root + "/" + self.id + "/"
        self.link = link = Link(self.id, host, port, keepalive_s=conf.get("keepalive_s", 30),
                                tls=tls, backoff_max_s=conf.get("backoff_max_s", 60),
                                ticks_ms=self.clock.ticks_ms,
                                user=conf.get("username", self.id), password=conf.get("password"))
        link.set_last_will((self.topic + "state").encode(), b'{"online": false}', retain=True, qos=1)
        link.subscribe_on_connect(self.topic + "cmd", 1)
        if getattr(board, "SIM", False):
            link.subscribe_on_connect(self.topic + "sim", 0)
        link.on_message = self._on_message
        link.on_connect = self._on_connect
        link.on_puback = self._on_puback
        link.on_suback = self._on_suback
        self.always_online = getattr(Driver, "ALWAYS_ONLINE", True)
        link.want = self.always_online
        self.session_ms = None
        self.inflight = None            # (pid, event seq) of the outbox head in flight
        self.last_state = None
        self.next_tick_s = now
        self.next_tele_s = now
        self.stop_code = None
        self.tick_ok = 0                # good ticks in a row (tick_fault clears after some)
        self.tick_faults = 0
        self.busy = False               # the loop is changing the ledger (see step)
        self.stopped = False
        self.shutdown_failed = []
        self.guard = app_safety.guard()   # None on the unix port: boot.py never ran
        self.minimal = app_safety.mode() == "minimal"
        if self.minimal and not self.always_online:
            link.want = True             # water: stay online to report the crash loop
        self.ota = None
        if "ota" in conf:                # over-the-air updates (firmware/ota/hook.py)
            from ota import hook
            self.ota = hook.attach(self)
        APP = self

    @property
    def entry(self):
        return self.token_entry          # the name service.py looks for

    # ---- link callbacks -----------------------------------------------------------
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
                return                    # never obey a retained command (domain.md pitfalls)
            if payload is None:
                ack = self.commands.too_large(now)
            else:
                ack = self.commands.handle(payload, now, self.clock.ticks_ms())
            if ack is None:
                return
            self.link.publish_now(self.topic + "ack", json.dumps(ack).encode(), qos=1)
            if ack["ok"]:                 # act on it now (a water meter's valve), not at the
                self.next_tick_s = min(self.next_tick_s, now + 1)    # next timer wake
            if self.commands.reboot_requested:
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

    def _sim(self, msg, now):
        if not isinstance(msg, dict):
            raise ValueError("sim message must be an object")
        rest = dict(msg)
        b = rest.pop("button", None)
        k = rest.pop("keypad", None)
        # validate every field before acting on any (a bad field must not press the button)
        if b is not None and b != "press":
            raise ValueError("button must be \"press\"")
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

    def token(self, digits, now):
        """A keypad entry (the sim topic and the console come here).
        Nothing escapes: a failure inside, or a failed save, leaves the ledger and the
        token state as they were, emits a `token` event with result "error" and answers
        the same; nothing is shown as accepted that was not saved."""
        p = self.prepay
        snap = p.snapshot()
        w0 = p.store.writes
        try:
            return self.token_entry.enter(digits, now)   # saves before it shows "accepted"
        except Exception as e:
            if p.store.writes == w0:
                p.rollback(snap)         # else the record on flash already holds the change
            res = {"result": "error", "reason": app_safety.why(e)}
            p.emit("token", now, **res)
            return res

    # ---- loop pieces --------------------------------------------------------------------
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
        st = {"online": True, "ts": now, "kind": self.kind, "fw": FW, "supply": key[0],
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

    def tick(self):
        """Metering and safety. Nothing escapes: a part that raises puts the meter in its
        fail-safe state with a tick_fault alarm (app_safety.tick_fault), the rest goes on."""
        now = self.clock.now_s()
        ok = True
        for part, fn in (("driver", self.driver.tick), ("prepay", self.prepay.tick)):
            try:
                fn(now)
            except Exception as e:
                ok = False
                app_safety.tick_fault(self, part, e, now)
        try:
            if ok:
                app_safety.tick_good(self, now)
            if not self.always_online:
                self._session_start(now)
            self.drain(now)
            try:
                self.eventlog.maybe_save(now)
            except OSError:
                pass                     # kept dirty, retried; Store.failing names it
            app_safety.storage_watch(self, now)
        except Exception as e:
            app_safety.tick_fault(self, "shell", e, now)
        try:
            self.next_tick_s = now + max(1, self.driver.period_s())
        except Exception as e:
            self.next_tick_s = now + 1
            app_safety.tick_fault(self, "period", e, now)
        if now >= self.next_tele_s:
            self.next_tele_s = now + self.commands.setting("report_s", REPORT_S)
            if self.link.up():
                self._telemetry(now)
        self.publish_state(now)

    def step(self):
        """One loop pass: tick when due, service the link, then wait a little or step the clock.
        `busy` is True while the ledger may be mid-update (tick, commands): an interrupt
        there must not persist a half-applied change (app_safety.shutdown)."""
        now = self.clock.now_s()
        if now >= self.next_tick_s:
            self.busy = True
            if self.minimal:
                app_safety.minimal_tick(self, now)   # crash loop: no metering
            else:
                self.tick()
            self.busy = False
        if not self.always_online and not self.minimal:
            self._session()
        self.busy = True
        if app_net.service(self):       # the interface first: no link without it
            self.link.service()
        self.busy = False
        self._pump()
        if self.token_entry is not None and hasattr(self.token_entry, "tick"):
            self.token_entry.tick(self.clock.ticks_ms())     # keypad LED feedback
        g = self.guard
        if g is not None:
            g.loop(self, now)        # a full healthy pass: the only thing feeding the watchdog
        if self.ota is not None:
            self.ota.step(now)       # update transfer and probation (firmware/ota/hook.py)
        d = self.clock.due_ms(self.next_tick_s)
        if d <= 0:
            self.clock.advance(self.next_tick_s)
        else:
            self.link.idle(self._idle_ms(d))

    def _idle_ms(self, d):
        """How long the loop may sleep: until the next tick, a packet (idle() returns at
        once) or the link's next timed job; at BUSY_MS steps while a water session or the
        keypad LED needs the loop; never longer than WDT_FEED_MS while a watchdog runs."""
        t = self.link.due_ms()
        if t is not None and t < d:
            d = t
        te = self.token_entry
        if self.session_ms is not None or (te is not None and te.blinking()):
            d = min(d, BUSY_MS)
        if self.guard is not None:
            d = min(d, WDT_FEED_MS)
        return d

    def run(self):
        """-> 0 after Ctrl-C / SIGINT (actuators safe, ledger saved), REBOOT after the
        `reboot` op. On a device the watchdog is then fed by a timer for the service window."""
        try:
            while self.stop_code is None:
                self.step()
            # reboot: let the ack go out first
            for _ in range(50):
                self.link.service()
                if not self.link.pending_tx():
                    break
                time.sleep_ms(2)
            self.shutdown()
            return self.stop_code
        except KeyboardInterrupt:
            self.interrupted()
            return 0

    def interrupted(self):
        """Ctrl-C (device) or SIGINT (unix port) reached the loop. main.py calls it too when
        the interrupt lands between run()'s handler and this call."""
        gc.collect()                     # first: unlocks a heap the interrupt left locked
        if self.stopped:
            return
        self.stopped = True
        app_safety.shutdown(self, interrupted=True)
        app_safety.hold_for_service()

    def shutdown(self, online=False):
        self.stopped = True
        return app_safety.shutdown(self)
