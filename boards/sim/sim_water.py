# Simulated water meter board: faithful fakes of the parts the water driver uses, driven by
# a physical world integrated exactly (integers) over physical time (simparts.PhysClock:
# never moved by a change of the meter's wall clock).
#
# Parts (same API as the machine objects they stand for; docs/water.md "Board attributes"):
#   pulses_fwd, pulses_rev  Counter-like: value() = cumulative forward / reverse pulses of
#                           ml_per_pulse mL from the two-sensor quadrature input (counted by
#                           the ULP into RTC memory while asleep: kept in deep sleep, zeroed
#                           by a power cut)
#   ml_per_pulse            int, register resolution
#   rtc                     RTC-like: memory() / memory(bytes), 2 KiB, lost at a power cut
#   reset_cause()           "deepsleep" (counters and RTC memory kept) or "power_on"
#   valve_open, valve_close output Pins driving the valve motor (value(1) = run that way)
#   valve_opened, valve_closed  end-stop input Pins (1 = at that end)
#   magnet                  input Pin: 1 = field above the hall switch threshold / reed closed
#   empty_pipe              input Pin: 1 = the pipe is empty (dry)
#   battery, battery_div    ADC-like read_uv() of the cell through a 1/battery_div divider
#   button, led             Pin-like
#   sleep_plan(timer_s, wake_pulses) -> seconds until the first wake source fires
# Water flows (either way) only through an open valve, in proportion to its opening.
RTC_BYTES = 2048


from simparts import ADC as _ADC, Counter as _Counter, InPin as _InPin, OutPin as _OutPin
from simparts import PhysClock, ValveModel, num as _num


class _RTC:
    def __init__(self):
        self._mem = b""

    def memory(self, data=None):
        if data is None:
            return self._mem
        if len(data) > RTC_BYTES:
            raise ValueError("RTC memory holds %d bytes" % RTC_BYTES)
        self._mem = bytes(data)
        return None


def _passage(pos):
    # a ball valve at its closed end stop (last 2 % of travel) seals
    return 0 if pos <= ValveModel.SPAN * 2 // 100 else pos


class SimBoard:
    FIELDS = ("flow_lph", "magnet", "battery_mv", "button", "empty_pipe")

    def __init__(self, cfg, clock):
        self.clock = clock
        self.ml_per_pulse = 100         # 10 pulses per litre
        self.battery_div = 2
        self.demand_mlph = 0            # the household's draw (negative = backflow), mL/h
        self.field = False
        self.dry = False
        self.battery_mv = 3650          # fresh Li-SOCl2 cell
        self._fwd_x = 0                 # delivered volume since power-on, mL * 3600 (exact)
        self._rev_x = 0
        self.phys = PhysClock(clock)
        self._t = self.phys.now_s()
        self._cause = "power_on"
        self.valve_model = ValveModel(self.phys, on_change=self._integrate, pos=ValveModel.SPAN)   # water valves ship open
        vm = self.valve_model
        self.valve_open = vm.open_pin
        self.valve_close = vm.close_pin
        self.valve_opened = _InPin(lambda: self._pos() >= vm.SPAN * 98 // 100)
        self.valve_closed = _InPin(lambda: self._pos() <= vm.SPAN * 2 // 100)
        self.pulses_fwd = _Counter(lambda: self._pulses(True))
        self.pulses_rev = _Counter(lambda: self._pulses(False))
        self.rtc = _RTC()
        self.magnet = _InPin(lambda: self.field)
        self.empty_pipe = _InPin(lambda: self.dry)
        self.battery = _ADC(lambda: self.battery_mv * 1000 // self.battery_div)
        self.button = _InPin(lambda: 0)
        self.led = _OutPin()
        self.button_pressed = 0
        self.awake_s = 0                # sim accounting of wakes, for the energy figures
        self.wakes = 0

    # --- the world ---
    def _integrate(self):
        now = self.phys.now_s()
        dt = now - self._t
        if dt <= 0:
            return
        self._t = now
        vm = self.valve_model
        pos0 = _passage(vm.pos)
        pos1 = _passage(vm.update())
        if self.dry or pos0 + pos1 <= 0:
            return
        # flow through a partly open ball valve taken as proportional to its opening, which
        # moves linearly while the motor runs: its mean over the step is (pos0 + pos1) / 2
        x = self.demand_mlph * (pos0 + pos1) * dt // (2 * vm.SPAN)
        if x > 0:
            self._fwd_x += x
        elif x < 0:
            self._rev_x += -x

    def _pos(self):
        self._integrate()
        return self.valve_model.pos

    def _pulses(self, fwd):
        self._integrate()
        x = self._fwd_x if fwd else self._rev_x
        return x // 3600 // self.ml_per_pulse

    def flowing_lph(self):
        self._integrate()
        return self.demand_mlph * _passage(self._pos()) // self.valve_model.SPAN // 1000

    def reset_cause(self):
        return self._cause

    def power_cycle(self):
        """A cell swap / brown-out: the ULP counters and RTC memory are lost."""
        self._integrate()
        self._fwd_x = self._rev_x = 0
        self.rtc = _RTC()
        self._cause = "power_on"

    def sleep_plan(self, timer_s, wake_pulses):
        """Seconds until the first wake source fires when sleeping now: the timer, or the
        ULP's pulse threshold at the current (constant until the next sim message) flow.
        The magnet and the button wake at once (ext0/ext1): the app handles their sim
        messages as a wake."""
        self._integrate()
        self._cause = "deepsleep"
        self.wakes += 1
        pos = _passage(self.valve_model.pos)
        rate = self.demand_mlph * pos // self.valve_model.SPAN if not self.dry else 0
        if rate <= 0 or wake_pulses <= 0:
            return timer_s
        unit = self.ml_per_pulse * 3600
        target = (self._fwd_x // unit + wake_pulses) * unit
        t = (target - self._fwd_x + rate - 1) // rate
        return max(1, min(timer_s, t))

    # --- the sim topic ---
    def sim(self, msg):
        """Update the physical world from a <root>/<id>/sim message. Validates every
        field before changing anything."""
        if not isinstance(msg, dict):
            raise ValueError("sim message must be an object")
        for k in msg:
            if k not in self.FIELDS:
                raise ValueError("unknown sim field %s" % k)
        new = {}
        if "flow_lph" in msg:
            new["demand_mlph"] = int(_num(msg, "flow_lph", -10000, 100000) * 1000)
        if "battery_mv" in msg:
            new["battery_mv"] = _num(msg, "battery_mv", 0, 5000, True)
        for k, attr in (("magnet", "field"), ("empty_pipe", "dry")):
            if k in msg:
                if not isinstance(msg[k], bool):
                    raise ValueError("sim field %s must be a bool" % k)
                new[attr] = msg[k]
        if "button" in msg and msg["button"] != "press":
            raise ValueError("sim field button must be \"press\"")
        self._integrate()     # the old world up to now
        for k in new:
            setattr(self, k, new[k])
        if "button" in msg:
            self.button_pressed += 1
        return True

    def take_press(self):
        if self.button_pressed:
            self.button_pressed -= 1
            return True
        return False
