# Malicious-load vote on the labelled signature set (through the sim IC and the BL0942
# parser), relay feedback on fake coil pins, protection state machines, config validation
# with generated bad input. SOAK=<n> multiplies seeds and run lengths.
import os
import random
import mptest
import elec_sig
import loadsig
import meters.electricity.malicious_load as malicious_load

SOAK = int(os.getenv("SOAK") or "1")
SEEDS = 2 * SOAK


def test_every_resistive_step_detected_within_2s():
    for name in loadsig.RESISTIVE:
        for seed in range(1, SEEDS + 1):
            for bname, bg, base in elec_sig.backgrounds():
                a = loadsig.Appliance(name, seed, 10000)
                d = elec_sig.run(a, 30, bg, base)
                mptest.true(d, "%s/%d on %s not detected" % (name, seed, bname))
                mptest.true(0 <= d[0][0] <= 2, "%s/%d on %s: latency %d s" % (name, seed, bname, d[0][0]))
                mptest.true(abs(d[0][1] - a.p) < 0.1 * a.p, "step size %d vs %d" % (d[0][1], a.p))


def test_no_false_trip_on_non_resistive_set():
    secs = 240 * SOAK
    for name in loadsig.NON_RESISTIVE:
        for seed in range(1, SEEDS + 1):
            for bname, bg, base in elec_sig.backgrounds():
                a = loadsig.Appliance(name, seed, 10000)
                d = elec_sig.run(a, secs, bg, base)
                mptest.eq(d, [], "%s/%d on %s" % (name, seed, bname))


def test_resistive_on_top_of_running_non_resistive():
    A = loadsig.Appliance
    bg = (A("microwave", 3, 0), A("fridge", 3, 0), A("inverter_ac", 3, 0))
    k = A("kettle", 4, 30000)
    d = elec_sig.run(k, 40, bg)
    mptest.true(d and 0 <= d[0][0] <= 2, "kettle over a busy background: %r" % (d,))


class Step:
    """A pure step at t_on: (p_w, n_var) constant, no noise (threshold edges)."""

    def __init__(self, p, n, t_on_ms=5000):
        self.p, self.n, self.t_on_ms = p, n, t_on_ms

    def at(self, t):
        return (self.p, self.n) if t >= self.t_on_ms else (0, 0)


def test_threshold_edges():
    mptest.true(elec_sig.run(Step(320, 0), 10), "320 W resistive >= 300 W min step")
    mptest.eq(elec_sig.run(Step(280, 0), 10), [], "280 W below min step")
    # step pf 0.96 passes a 0.95 limit, 0.94 does not (n = p * tan(acos(pf)))
    mptest.true(elec_sig.run(Step(1000, 292), 10), "pf 0.96")
    mptest.eq(elec_sig.run(Step(1000, 363), 10), [], "pf 0.94")


def test_allowed_band_and_mode_config():
    cfg = {"allowed_bands_w": [[900, 1100]]}
    mptest.eq(elec_sig.run(Step(1000, 0), 10, cfg=cfg), [])
    mptest.true(elec_sig.run(Step(1500, 0), 10, cfg=cfg))
    mptest.true(elec_sig.run(Step(1500, 0), 10, cfg={"m": 8, "n": 8}))
    mptest.eq(elec_sig.run(Step(1500, 0), 10, cfg={"min_step_w": 2000}), [])


def test_malicious_validate_generated():
    random.seed(5)
    good = {"mode": "alarm", "min_step_w": 500, "pf_milli": 900, "m": 3, "n": 5,
            "allowed_bands_w": [[30, 100], [500, 800]], "reclose_s": 120, "lockout_trips": 5}
    mptest.eq(malicious_load.validate(good), good)
    bad_vals = [None, True, "x", 1.5, -1, 0, 10 ** 9, [], {}, [[1, 2]], [[800, 500]],
                [[100, 200]] * 7, [[30, "a"]]]
    n = 0
    for k in good:
        for v in bad_vals:
            if k == "allowed_bands_w" and v == []:
                continue
            if k in ("m", "n") and v in (1,):
                continue
            try:
                malicious_load.validate({k: v})
            except ValueError as e:
                n += 1
                mptest.true(str(e).startswith("malicious_load"), str(e))
            else:
                raise mptest.Fail("accepted %s=%r" % (k, v))
    mptest.raises(ValueError, malicious_load.validate, {"m": 7, "n": 5})
    for _ in range(200):
        mptest.raises(ValueError, malicious_load.validate,
                      {"k%d" % random.getrandbits(16): random.getrandbits(8)})
    mptest.true(n > 80)



mptest.main(globals())
