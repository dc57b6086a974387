# Simulated gas meter board: faithful fakes of the parts the gas driver uses, driven by a
# physical world integrated over physical time (simparts.PhysClock: never moved by a change
# of the meter's wall clock).
#
# Parts (same API as the machine objects they stand for; see docs/gas.md "Board attributes"):
#   valve_open, valve_close   output Pins driving the valve motor (value(1) = run that way)
#   valve_opened, valve_closed  end-stop input Pins (value() 1 = at that end)
#   flow        Counter-like: value() = cumulative pulses of pulse_ml millilitres
#   vibration   ADC-like: read_uv() = vib_uv_per_gal microvolts per gal (seismic sensor)
#   battery     ADC-like: read_uv() = cell voltage through a 1/battery_div divider
#   tamper      Pin-like input: value() 1 = cover opened
#   button, led Pin-like
# The burners' demand (flow_lph) only flows while the valve is physically open enough.


from simparts import ADC as _ADC, Counter as _Counter, InPin as _InPin, OutPin as _OutPin
from simparts import PhysClock, ValveModel, num as _num


class SimBoard:
    FIELDS = ("flow_lph", "vibration_gal", "battery_mv", "tamper", "button")

    def __init__(self, cfg, clock):
        self.clock = clock
        self.pulse_ml = 10           # flow sensor resolution (mL per pulse)
        self.vib_uv_per_gal = 1000   # seismic sensor scale
        self.battery_div = 2         # cell -> ADC divider
        self.has_tamper = True
        self.demand_lph = 0          # burners' total demand
        self.vibration_gal = 0
        self.battery_mv = 3600       # fresh Li-SOCl2 cell
        self.cover_open = False
        self._ml_x3600 = 0           # delivered volume, mL * 3600 (exact integer integration)
        self.phys = PhysClock(clock)
        self._t = self.phys.now_s()
        self.valve_model = ValveModel(self.phys)
        vm = self.valve_model
        self.valve_open = vm.open_pin
        self.valve_close = vm.close_pin
        self.valve_opened = vm.opened_stop
        self.valve_closed = vm.closed_stop
        self.flow = _Counter(self._pulses)
        self.vibration = _ADC(lambda: self.vibration_gal * self.vib_uv_per_gal)
        self.battery = _ADC(lambda: self.battery_mv * 1000 // self.battery_div)
        self.tamper = _InPin(lambda: self.cover_open)
        self.button_pressed = 0      # presses not yet taken by the driver (sim only)
        self.button = _InPin(lambda: 0)
        self.led = _OutPin()

    def _integrate(self):
        now = self.phys.now_s()
        dt = now - self._t
        if dt <= 0:
            return
        self._t = now
        # Flow only through a valve that is (nearly) fully open: gas needs a real passage.
        if self.valve_model.update() >= ValveModel.SPAN * 98 // 100:
            # lph * s = mL * 3600 / 1000  ->  mL*3600 += lph * 1000 * s
            self._ml_x3600 += int(self.demand_lph * 1000) * dt

    def _pulses(self):
        self._integrate()
        return self._ml_x3600 // 3600 // self.pulse_ml

    def flowing_lph(self):
        self._integrate()
        return self.demand_lph if self.valve_model.update() >= ValveModel.SPAN * 98 // 100 else 0

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
            new["demand_lph"] = _num(msg, "flow_lph", 0, 100000)
        if "vibration_gal" in msg:
            new["vibration_gal"] = _num(msg, "vibration_gal", 0, 5000)
        if "battery_mv" in msg:
            new["battery_mv"] = _num(msg, "battery_mv", 0, 5000, True)
        if "tamper" in msg:
            if not isinstance(msg["tamper"], bool):
                raise ValueError("sim field tamper must be a bool")
            new["cover_open"] = msg["tamper"]
        if "button" in msg and msg["button"] != "press":
            raise ValueError("sim field button must be \"press\"")
        self._integrate()     # old demand up to now
        for k in new:
            setattr(self, k, new[k])
        if "button" in msg:
            self.button_pressed += 1
        return True

    def take_press(self):
        """The driver's view of a debounced button press (the real board uses an IRQ)."""
        if self.button_pressed:
            self.button_pressed -= 1
            return True
        return False
