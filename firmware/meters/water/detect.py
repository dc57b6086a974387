# The water meter's detectors, run on every wake with the interval the driver measured
# (docs/water.md §5-6): continuous-flow leak, burst, reverse flow, dry pipe, magnet, battery.
# Each raises or clears its alarm through the core and marks the flash record dirty.
# A base class of the water Driver (driver.py): the Driver's own methods.
from meters.water.leak import Leak
from meters.water.flow import high_flow
from meters.water.magnetic import Magnetic


class Detect:
    def _follow_clears(self):
        # a remote or console clear ends an alarm in the prepay record (validated, then saved
        # with its command); the detectors follow the record here, as meters/electricity/
        # does, so a refused or rolled-back clear changes nothing
        al, la = self.p.alarms, self.p.supply.latches
        if self.burst.active and "burst" not in al and "burst" not in la:
            self.burst.reset()          # a burst must build up for burst_s again
            self.flash_dirty = True
        n = Magnetic.NAME
        if self.mag.latched and not self.mag.present and n not in al and n not in la:
            self.mag.clear()
            self.flash_dirty = True
        if self.valve.fault and "valve_fault" not in al:
            self.valve_retry = True     # try the travel once more

    def _raise(self, name, now_s, latch=False, **fields):
        self.p.alarm(name, now_s, latch=latch, **fields)
        self.flash_dirty = True

    def _clear(self, name, now_s):
        if name in self.p.alarms:
            self.p.alarm_clear(name, now_s)
        self.flash_dirty = True

    def _detectors(self, dt, vol_ml, drev):
        # dt: the interval's length in monotonic seconds
        cfg = self.cfg
        now_s = self.now_s
        res = self.leak.update(dt, vol_ml, cfg)
        if res:
            if res[0] == "raise":
                self._raise(Leak.NAME, now_s, **res[1])
            else:
                self._clear(Leak.NAME, now_s)
        close = cfg["burst_close"]
        x = self.burst.step(high_flow(vol_ml, dt, cfg["burst_lph"]), dt, cfg["burst_s"],
                            sticky=close)
        if x == "raise":
            self._raise("burst", now_s, latch=close, flow_lph=vol_ml * 3600 // dt // 1000)
        elif x == "clear":
            self._clear("burst", now_s)
        x = self.reverse.step(drev > 0, dt, cfg["reverse_s"], strict=True)
        if x == "raise":
            self._raise("reverse_flow", now_s, litres=self.m["rml"] // 1000)
        elif x == "clear":
            self._clear("reverse_flow", now_s)
        if self.empty is not None:
            x = self.dry.step(bool(self.empty.value()), dt, cfg["dry_s"])
            if x == "raise":
                self._raise("dry", now_s)
            elif x == "clear":
                self._clear("dry", now_s)

    def _magnet(self, now_s, mdt):
        x = self.mag.sample(self.b.magnet.value(), now_s, mdt)
        if x is None:
            return
        if x[0] == "raise":
            self._raise(Magnetic.NAME, now_s, latch=self.cfg["magnet_close"], **x[1])
        else:
            self.p.emit("magnetic_attack_end", now_s, **x[1])
            self.flash_dirty = True

    def battery_mv(self):
        return self.b.battery.read_uv() * self.b.battery_div // 1000

    def _battery(self, now_s):
        mv = self.battery_mv()
        cfg = self.cfg
        if self.batt == 0 and mv < cfg["battery_low_mv"]:
            self.batt = 1
            self._raise("battery_low", now_s, battery_mv=mv)
        if self.batt == 1 and mv < cfg["battery_park_mv"]:
            # park the valve while the cell can still move it; closed parks latch the supply
            self.batt = 2
            self._raise("battery_park", now_s, latch=cfg["valve_safe"] == "closed",
                        battery_mv=mv, position=cfg["valve_safe"])
        # a new cell (power-on) restarts the driver with batt from flash: clear on recovery
        if self.batt and mv >= cfg["battery_low_mv"] + 100:
            self.batt = 0
            self._clear("battery_low", now_s)
            self._clear("battery_park", now_s)
