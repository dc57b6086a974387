# Motorised ball valve with two end-stop switches (shared by the gas and water meters).
#
# Parts are Pin-like objects: open_pin / close_pin drive the H-bridge (value(1) = motor runs
# that way), open_stop / closed_stop read the end-stop switches (value() truthy = the valve
# is at that end; a board whose switches are active-low wraps them). The class never reads
# a clock: now_s comes in, events come out, so the same code runs on the ESP32 and the sim.
#
# Safety rules kept here:
# - the two coil pins are never driven at the same time (break before make);
# - a travel that does not reach its end stop within timeout_s stops the motor and sets
#   `fault` (the driver raises valve_fault); a faulted valve refuses to open, but a close is
#   always attempted, because closed is the safe state of a gas valve;
# - a valve found away from both end stops at power-up (a reboot mid-travel) drives closed.

OPEN = "open"
CLOSED = "closed"
OPENING = "opening"
CLOSING = "closing"
FAULT = "fault"
POSITIONS = (OPEN, CLOSED, OPENING, CLOSING, FAULT)


class Valve:
    def __init__(self, open_pin, close_pin, open_stop, closed_stop, timeout_s, state=None):
        if not isinstance(timeout_s, int) or timeout_s < 1:
            raise ValueError("valve timeout_s must be an int >= 1")
        self._op = open_pin
        self._cp = close_pin
        self._os = open_stop
        self._cs = closed_stop
        self.timeout_s = timeout_s
        self._motor(0, 0)
        self.fault = False
        self.fault_reason = None
        self._t0_s = None          # travel start; None = not yet stamped (set at the next poll)
        self.travel_s = None       # last completed travel time, for the bench and diagnostics
        saved = state if isinstance(state, dict) else {}
        if saved.get("fault") is True:
            self.fault = True
            self.fault_reason = saved.get("fault_reason") or "restored"
        o, c = self._stops()
        if o and c:
            self._set_fault("both_stops")
        elif c:
            self.position = CLOSED
        elif o and not self.fault:
            self.position = OPEN
        else:
            # Between the stops (reboot mid-travel), or open with a remembered fault:
            # the only safe restart is to drive closed (timer stamped at the first poll).
            self.position = CLOSING
            self._cp.value(1)

    def _motor(self, o, c):
        # Break before make: both off first, then the wanted coil.
        self._op.value(0)
        self._cp.value(0)
        if o:
            self._op.value(1)
        elif c:
            self._cp.value(1)

    def _stops(self):
        return bool(self._os.value()), bool(self._cs.value())

    def _set_fault(self, reason):
        self._motor(0, 0)
        self.fault = True
        self.fault_reason = reason
        self.position = FAULT
        self._t0_s = None

    @property
    def moving(self):
        return self.position in (OPENING, CLOSING)

    @property
    def is_closed(self):
        return self.position == CLOSED

    def command(self, want_open, now_s):
        """Start travel to open (True) or closed (False). Returns False if refused
        (open while faulted), True otherwise (including already there / on the way)."""
        if want_open:
            if self.fault:
                return False
            if self.position in (OPEN, OPENING):
                return True
            self.position = OPENING
            self._motor(1, 0)
        else:
            if self.position in (CLOSED, CLOSING):
                if self.position == CLOSING and self._t0_s is None:
                    self._t0_s = now_s
                return True
            self.position = CLOSING
            self._motor(0, 1)
        self._t0_s = now_s
        return True

    def poll(self, now_s):
        """Watch the end stops; returns a list of event dicts:
        {"event": "reached", "position", "travel_s"}, {"event": "fault", "reason", "target"},
        {"event": "drift", "position"} (left its end stop while idle; re-driven there)."""
        ev = []
        o, c = self._stops()
        if o and c:
            if self.position != FAULT or self.fault_reason != "both_stops":
                tgt = self.position
                self._set_fault("both_stops")
                ev.append({"event": "fault", "reason": "both_stops", "target": tgt})
            return ev
        pos = self.position
        if pos in (OPENING, CLOSING):
            if self._t0_s is None:
                self._t0_s = now_s
            if (pos == OPENING and o) or (pos == CLOSING and c):
                self._motor(0, 0)
                self.position = OPEN if o else CLOSED
                self.travel_s = now_s - self._t0_s
                self._t0_s = None
                if self.fault:
                    # A completed travel proves the drive works again.
                    self.fault = False
                    self.fault_reason = None
                ev.append({"event": "reached", "position": self.position,
                           "travel_s": self.travel_s})
            elif now_s - self._t0_s >= self.timeout_s:
                tgt = OPEN if pos == OPENING else CLOSED
                self._set_fault("timeout")
                ev.append({"event": "fault", "reason": "timeout", "target": tgt})
        elif pos == CLOSED and not c:
            ev.append({"event": "drift", "position": CLOSED})
            self.position = CLOSING
            self._motor(0, 1)
            self._t0_s = now_s
        elif pos == OPEN and not o:
            ev.append({"event": "drift", "position": OPEN})
            self.position = OPENING
            self._motor(1, 0)
            self._t0_s = now_s
        return ev

    def stop(self):
        """Cut the motor where it is (shutdown). Position becomes unknown -> next boot drives closed."""
        if self.moving:
            self._motor(0, 0)

    def to_dict(self):
        return {"position": self.position, "fault": self.fault,
                "fault_reason": self.fault_reason}
