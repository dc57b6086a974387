# The network interface under the link (docs/porting.md "Network"), kept out of app.py.
# The board brings it up (board.network: Wi-Fi, a cellular modem, or the host's network on
# the sim board); the app services it once per loop pass, after the metering tick. The link
# runs only while the interface is up and is closed the moment it goes down, so its
# supervisor reconnects as soon as the interface is back. Nothing here blocks: the one
# blocking call (ntptime) is given only the idle time before the next tick (net/wifi.py).
# Network time (NTP, +CCLK) moves the clock only under net/timesync.py's rules, and every
# step is reported as a `time_sync` event.
from net import timesync

FAULT_EVENT_MS = 3600000        # an interface driver fault is reported at most hourly
NET_POLL_MS = 20                # while an interface is being brought up: Wi-Fi status and AT
                                # replies are polled, nothing wakes the loop for them
_last_fault = [None, None]      # (ticks of the last net_fault event, its text)
_last_state = [None]


def start(board_mod, conf, clock):
    return board_mod.network(conf, clock)


def service(app):
    """-> True while the interface carries IP (then the app services the link)."""
    net = app.net
    if net.ALWAYS_UP:               # the host's network (sim board): nothing to service, and
        return True                 # the sim loop runs flat out, so not a cycle spent here
    link = app.link
    # a link still open (a water session flushing its "asleep" state) keeps the interface
    # up until it has closed by itself: an abrupt cut would fire the last will instead
    want = link.want or link.state != 0
    offer = None
    try:
        up = net.service(want, app.clock.due_ms(app.next_tick_s))
        offer = net.take_time()
    except Exception as e:          # a radio driver error never reaches the metering loop
        _fault(app, e)
        up = False
    st = getattr(net, "state", None)
    if st != _last_state[0]:        # one console line per interface state (field guide)
        _last_state[0] = st
        print("net: %s %s %s" % (getattr(net, "KIND", "?"), st, getattr(net, "reason", "")))
    if not up:
        if link.state != 0:
            link.close()
        return False
    if offer is not None:
        _time(app, offer)
    return True


def due_ms(app):
    """-> ms until the interface wants servicing while it is down: NET_POLL_MS while the link
    wants it up, None (sleep until the next tick) while nothing does."""
    link = app.link
    return NET_POLL_MS if link.want or link.state != 0 else None


def _time(app, offer):
    t, source = offer
    applied, d = timesync.offer(app.clock, t, source)
    now = app.clock.now_s()
    if applied:
        app.prepay.emit("time_sync", now, source=source, step_s=d)
        cf = getattr(app, "clock_floor", None)
        try:                        # at once: a step back held still survives a reset
            if cf is not None:
                cf.maybe_save(now, force=True)
        except OSError:
            pass                    # retried at the next tick
    elif not isinstance(d, int):
        app.prepay.emit("time_rejected", now, source=source, reason=d[:60])


def _fault(app, e):
    import time
    text = repr(e)[:60]
    now = app.clock.ticks_ms()
    t, last = _last_fault
    if last != text or t is None or time.ticks_diff(now, t) >= FAULT_EVENT_MS:
        _last_fault[0], _last_fault[1] = now, text
        print("net: %s" % text)
        app.prepay.emit("net_fault", app.clock.now_s(), iface=getattr(app.net, "KIND", "?"),
                        error=text)


def info(app):
    return app.net.info()
