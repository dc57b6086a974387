# Labelled appliance load signatures for the malicious-load tests and bench.
#
# Runs unchanged on CPython and on the MicroPython unix port (the sim board and the
# firmware tests import it). Deterministic: every figure comes from a seeded xorshift
# generator, so a (name, seed) pair always gives the same curve.
#
# A signature is a function of time: Appliance.at(t_ms) -> (p_w, n_var), the active power
# and the non-active power (reactive + distortion, N = sqrt(S^2 - P^2)) of the appliance,
# (0, 0) while it is off. The sim world sums them (non-active powers add linearly, an
# approximation that is exact for loads with the same displacement angle).
#
# Physical models (typical values from appliance rating plates and power-quality surveys):
#   resistive (pf 1.00, nichrome cold-resistance inrush of a few %, slow thermal drift):
#     heater 1000-2000 W thermostat 120 s on / 60 s off; kettle 1800-2200 W for 150 s;
#     hot_plate 800-1500 W thermostat 40 s on / 20 s off; rice_cooker 400-700 W for 600 s,
#     then keep-warm 40-60 W.
#   non-resistive:
#     fridge 90-150 W pf 0.60-0.70, locked-rotor inrush 5-7x at pf 0.35 for 400 ms, 8 min on /
#     12 min off; laptop 45-90 W pf 0.50-0.60 (SMPS, no PFC); phone_charger 5-18 W pf 0.45-0.55;
#     led 5-40 W pf 0.50-0.90; tv 60-150 W pf 0.60-0.90; fan 30-60 W pf 0.80-0.90 with a 2x
#     start for 500 ms; inverter_ac soft start 150 W -> 900-1500 W over 60-120 s, pf 0.97 (PFC);
#     microwave 1000-1500 W pf 0.85-0.90 (magnetron transformer), 1.5x inrush 250 ms,
#     magnetron duty cycle 15 s on / 7 s off.
# Measurement noise: +-0.5 % on P and +-2 % on N, per 250 ms sample.
#
# (Comments, not a docstring: the unix port compiles this module from source in the
# 64 KiB firmware tests, and a docstring is parsed into the compile peak.)

import loadsig_kinds

RESISTIVE = ("heater", "kettle", "hot_plate", "rice_cooker")
NON_RESISTIVE = ("fridge", "laptop", "phone_charger", "led", "tv", "fan", "inverter_ac",
                 "microwave")
ALL = RESISTIVE + NON_RESISTIVE


def _mix(x):
    # xorshift32 step, deterministic across CPython and MicroPython
    x &= 0xFFFFFFFF
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


class Rng:
    def __init__(self, seed):
        self.s = (seed * 2654435761 + 12345) & 0xFFFFFFFF or 1

    def next(self):
        self.s = _mix(self.s)
        return self.s

    def uniform(self, lo, hi):
        return lo + (hi - lo) * (self.next() % 100001) / 100000


def _sqrt(x):
    return x ** 0.5


def n_for(p_w, pf):
    return p_w * _sqrt(1.0 / (pf * pf) - 1.0) if pf < 1.0 else 0.0


class Appliance:
    def __init__(self, name, seed=1, t_on_ms=0, t_off_ms=None):
        if name not in ALL:
            raise ValueError("unknown appliance " + name)
        self.name = name
        self.resistive = name in RESISTIVE
        self.seed = seed
        self.t_on_ms = t_on_ms
        self.t_off_ms = t_off_ms
        r = Rng(seed * 1009 + sum(ord(ch) for ch in name))
        self.cycle = None               # (on_ms, off_ms) thermostat / compressor / duty cycle
        self.run_ms = None              # runs this long, then `after`
        self.after = (0.0, 1.0)         # (p_w, pf) after run_ms
        self.inrush = (1.0, 1.0, 0)     # (factor, pf, ms)
        self.ramp = None                # (from_w, ms) soft start
        loadsig_kinds.shape(self, name, r.uniform)

    def _noise(self, t_ms, k, span):
        x = _mix((self.seed * 7919 + (t_ms // 250) * 31 + k) & 0xFFFFFFFF or 1)
        return 1.0 + span * ((x % 2001) - 1000) / 1000.0

    def at(self, t_ms):
        if t_ms < self.t_on_ms or (self.t_off_ms is not None and t_ms >= self.t_off_ms):
            return (0, 0)
        dt = t_ms - self.t_on_ms
        p, pf = self.p, self.pf
        if self.run_ms is not None and dt >= self.run_ms:
            p, pf = self.after
            if p <= 0:
                return (0, 0)
        elif self.cycle is not None:
            on, off = self.cycle
            ph = dt % (on + off)
            if ph >= on:
                return (0, 0)
            dt = ph                      # inrush and drift restart at each switch-on
        if self.ramp is not None:
            w0, ms = self.ramp
            if dt < ms:
                p = w0 + (p - w0) * dt / ms
        f, ipf, ims = self.inrush
        if dt < ims:
            if ipf >= 1.0:               # resistive: cold element, decaying linearly
                p *= 1.0 + (f - 1.0) * (ims - dt) / ims
            else:
                p, pf = p * f, ipf
        elif self.resistive:
            p *= 1.0 - 0.03 * min(dt, 60000) / 60000.0   # element warms, resistance rises
        n = n_for(p, pf)
        return (int(p * self._noise(t_ms, 1, 0.005) + 0.5),
                int(n * self._noise(t_ms, 2, 0.02) + 0.5))


def labelled_set(seeds=3, t_on_ms=10000):
    """[(Appliance, resistive)] for every appliance kind and seed."""
    out = []
    for name in ALL:
        for s in range(1, seeds + 1):
            out.append((Appliance(name, seed=s, t_on_ms=t_on_ms), name in RESISTIVE))
    return out


if __name__ == "__main__":
    for a, res in labelled_set(1):
        pts = [a.at(a.t_on_ms + k * 250) for k in (0, 4, 40, 400)]
        print("%-14s %-13s %s" % (a.name, "resistive" if res else "non-resistive", pts))
