# The shell (docs/architecture.md "The app loop"): loads config.json, builds store, prepay,
# board, driver, outbox and link, and runs the loop. Metering and safety run first on every
# tick and never wait on the network: link.service() is non-blocking. The link's side of the
# shell (callbacks, outbox pump, state, telemetry, sessions) is app_link.py; config.json's
# checks are app_config.py.
import gc
import time
from core.clock_floor import ClockFloor
from core.store import Store
from core.prepay import Prepay
from core.eventlog import EventLog
from core.commands import Commands
from link.outbox import Outbox
from link.mqtt import Link
from core import frame
from app_config import load_config, broker
from app_link import AppLink, REBOOT  # noqa: F401 (main.py reads app.REBOOT)
import app_safety
import app_net

try:
    from fw_version import FW   # written into a bundle by tools/ota.py build (docs/ota.md)
except ImportError:
    FW = "1.0.0"
APP = None              # the running App, for the technician console (service.py)
REPORT_S = 60           # default telemetry interval, sim seconds (config op "report_s")
BUSY_MS = 20            # loop pace while a session or the keypad LED is running
WDT_FEED_MS = 1000      # longest sleep with a watchdog (hal/guard.py: 30 s timeout)

# Default flat tariffs when config.json has none (price_micro per Wh / litre):
# 0.25 per kWh, 2.00 per m3 of water, 1.00 per m3 of gas, in minor units of 1/100.
DEFAULT_TARIFF = {"electricity": {"price": 25000}, "water": {"price": 200000},
                  "gas": {"price": 100000}}


class App(AppLink):
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
        # records in this bundle's formats first, at every start, OTA or not (docs/ota.md
        # §6): a record newer than this bundle reads (a bundle put back by an OTA rollback
        # or by cable) stops the start with ValueError instead of being rebuilt over
        from ota.formats import migrate
        migrate(self.store)
        self.clock_floor = ClockFloor(self.store)
        self.clock = board.clock(conf, self.clock_floor.floor_s)
        self.clock_floor.attach(self.clock)
        now = self.clock.now_s()
        cfg = dict(conf.get("config") or {})
        cfg["tariff"] = conf.get("tariff") or cfg.get("tariff") or DEFAULT_TARIFF[self.kind]
        if conf.get("paygo") or cfg.get("paygo"):     # "paygo" at the top of config.json (docs/offline-topup.md)
            cfg["paygo"] = conf.get("paygo") or cfg.get("paygo")
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
            self.token_entry = TokenEntry(self.prepay, cfg, led=getattr(self.board, "led", None),
                                          mono_s=self.clock.mono_s)
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
        self.next_tele_m = self.clock.mono_s()     # telemetry: monotonic too
        self.stop_code = None
        self.tick_ok = 0                # good ticks in a row (tick_fault clears after some)
        self.tick_faults = 0
        self.busy = False               # the loop is changing the ledger (see step)
        self.net_up = False             # the interface carried IP at the last pass
        self.stopped = False
        self.shutdown_failed = []
        self.guard = app_safety.guard()   # None on the unix port: boot.py never ran
        self.minimal = app_safety.mode() == "minimal"
        self.commands.held = self.minimal   # crash loop: no driver action may move an actuator
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

    # The tick is due on the monotonic clock (docs/architecture.md, "Clock contract"): a
    # `time` op that sets the wall clock back holds now_s still, and must not hold the
    # metering and safety ticks with it. next_tick_s reads and sets that instant in wall
    # seconds (what due_ms and advance take): now_s plus the monotonic seconds left.
    @property
    def next_tick_s(self):
        c = self.clock
        try:
            return c.now_s() + max(0, self.tick_due_m - c.mono_s())
        except Exception:                # a failing clock (shutdown's fallback)
            return self._tick_wall

    @next_tick_s.setter
    def next_tick_s(self, t_s):
        c = self.clock
        self._tick_wall = t_s
        self.tick_due_m = c.mono_s() + t_s - c.now_s()

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
            try:
                self.clock_floor.maybe_save(now)   # what a power cut sets the clock back to
            except OSError:
                pass                     # kept dirty, retried at the next tick
            app_safety.storage_watch(self, now)
        except Exception as e:
            app_safety.tick_fault(self, "shell", e, now)
        try:
            self.next_tick_s = now + max(1, self.driver.period_s())
        except Exception as e:
            self.next_tick_s = now + 1
            app_safety.tick_fault(self, "period", e, now)
        try:
            mono = self.clock.mono_s()
            if mono >= self.next_tele_m:
                self.next_tele_m = mono + REPORT_S    # a bad setting: the default, not a crash
                self.next_tele_m = mono + self.commands.setting("report_s", REPORT_S)
                if self.link.up():
                    self._telemetry(now)
            self.publish_state(now)
        except Exception as e:
            app_safety.tick_fault(self, "shell", e, now)

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
        self.net_up = app_net.service(self)
        if self.net_up:                 # the interface first: no link without it
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
        once), the link's next timed job or the interface's next poll; at BUSY_MS steps
        while a water session or the keypad LED needs the loop; never longer than
        WDT_FEED_MS while a watchdog runs."""
        # the link's timers only while the interface is up: the link is serviced only then,
        # so a connect it wants "now" stays due and would spin the loop
        t = self.link.due_ms() if self.net_up else app_net.due_ms(self)
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
