# Malicious-load identification (恶性负载识别, Chinese dormitory meters, docs/electricity.md):
# catch purely resistive heaters switched on behind the meter. Keep the last 8 samples of
# P and S; for a power step dP >= min_step_w, compute the step's own power factor
# dP / |dS|, where dS is the change of the complex apparent power: |dS| = sqrt(dP^2 + dN^2)
# with N = sqrt(S^2 - P^2) the non-active power (reactive + distortion). That is the power
# factor of the appliance that was added, whatever the background load. A sample is a hit
# when that factor is >= pf_milli/1000 and dP is outside every allowed band; M hits out of
# the last N samples is a detection. All integer: dP^2 * 10^6 >= pf_milli^2 * (dP^2 + dN^2).
from core.check import int_in, is_int

HIST = 8
DEFAULTS = {
    "mode": "trip",           # off | alarm | trip
    "min_step_w": 300,        # smallest appliance we police (small rice cooker)
    "pf_milli": 950,          # step PF limit (domain: configurable 0.5-1.0); microwaves ~0.88
    "m": 5, "n": 7,           # vote (domain: "trip on 5 of 7 hits")
    "allowed_bands_w": [],    # up to 6 [lo, hi] step-power bands that are allowed
    "reclose_s": 60,          # automatic reconnect after a trip (domain: e.g. 1 min)
    "lockout_trips": 3,       # trips within 24 h before lockout (domain: 3-5)
}
_INT = {"min_step_w": (30, 100000), "pf_milli": (500, 1000), "m": (1, 8), "n": (1, 8),
        "reclose_s": (1, 86400), "lockout_trips": (1, 100)}


def validate(patch, current=None):
    if not isinstance(patch, dict):
        raise ValueError("malicious_load: not a dict")
    out = {}
    for k, v in patch.items():
        if k == "mode":
            if v not in ("off", "alarm", "trip"):
                raise ValueError("malicious_load: mode must be off, alarm or trip")
        elif k == "allowed_bands_w":
            if not isinstance(v, list) or len(v) > 6:
                raise ValueError("malicious_load: allowed_bands_w must be a list of <= 6 bands")
            for b in v:
                if (not isinstance(b, list) or len(b) != 2 or
                        not all(is_int(x) for x in b)
                        or not 30 <= b[0] <= b[1] <= 100000):
                    raise ValueError("malicious_load: band must be [lo, hi] with 30 <= lo <= hi")
            v = [list(b) for b in v]
        elif k in _INT:
            lo, hi = _INT[k]
            int_in(v, "malicious_load." + k, lo, hi)
        else:
            raise ValueError("malicious_load: unknown key %s" % k)
        out[k] = v
    merged = dict(current or DEFAULTS)
    merged.update(out)
    if merged["m"] > merged["n"]:
        raise ValueError("malicious_load: m must be <= n")
    return out


def isqrt(x):
    if x <= 0:
        return 0
    r = 1
    while r * r < x:
        r <<= 1
    while True:
        y = (r + x // r) >> 1
        if y >= r:
            return r
        r = y


class StepVote:
    """Feed one (power_w, va) sample at a time; sample() returns the step power in W when
    the vote says a resistive appliance was switched on, else 0."""

    def __init__(self, cfg):
        self.cfg = cfg
        self._p = [0] * HIST
        self._q = [0] * HIST
        self._len = 0
        self._i = 0          # next slot to write = oldest sample once full
        self._votes = 0      # bit i = hit i samples ago
        self.last_pf_milli = 0

    def reset(self):
        self._len = 0
        self._i = 0
        self._votes = 0

    def _allowed(self, dp):
        for lo, hi in self.cfg["allowed_bands_w"]:
            if lo <= dp <= hi:
                return True
        return False

    def sample(self, power_w, va):
        c = self.cfg
        p = power_w if power_w > 0 else 0
        q = isqrt(va * va - p * p) if va > p else 0
        hit = False
        dp = 0
        if self._len == HIST:
            i = self._i
            dp = p - self._p[i]
            if dp >= c["min_step_w"]:
                dq = q - self._q[i]
                pf2 = c["pf_milli"] * c["pf_milli"]
                hit = dp * dp * 1000000 >= pf2 * (dp * dp + dq * dq) and not self._allowed(dp)
                self.last_pf_milli = dp * 1000 // (isqrt(dp * dp + dq * dq) or 1)
        self._p[self._i] = p
        self._q[self._i] = q
        self._i = (self._i + 1) % HIST
        if self._len < HIST:
            self._len += 1
        self._votes = ((self._votes << 1) | (1 if hit else 0)) & ((1 << c["n"]) - 1)
        v = self._votes
        hits = 0
        while v:
            hits += v & 1
            v >>= 1
        if hits >= c["m"]:
            self.reset()
            return dp
        return 0
