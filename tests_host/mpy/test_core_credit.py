# core/credit.py on the unix port: warnings once per descent and re-armed by a recharge,
# imminent from the recent rate, friendly windows (midnight, weekend, holiday, tz),
# emergency credit flow, debt recovery with cap and carried deduction, bad input.
import os
import random
import mptest
from core import credit as K, clock as C

SOAK = int(os.getenv("SOAK") or 1)   # scales the generated loops (soak runs)

MON = C.days_from_civil(2026, 11, 30) * 86400     # Monday 00:00 UTC
H = 3600


def fresh(patch=None):
    cfg = K.merged({})
    if patch:
        cfg.update(K.validate_config(patch, cfg))
    return K.new_state(), cfg


def test_defaults_are_valid_and_normal():
    mptest.eq(K.validate_config(K.DEFAULTS), K.DEFAULTS)
    mptest.eq(K.DEFAULTS["warn_pct"], [30, 10])
    mptest.eq(K.DEFAULTS["imminent_h"], 24)


def test_warnings_once_per_descent_and_rearm():
    st, cfg = fresh()
    mptest.eq(K.on_recharge(st, cfg, 0, 1000, MON), (1000, 0))
    seen = []
    for b in range(1000, -50, -7):
        for w in K.warnings_due(st, cfg, b, MON):
            seen.append((w, b))
    mptest.eq([w for w, _ in seen], ["30", "10"])
    mptest.true(seen[0][1] <= 300 < seen[0][1] + 7)
    mptest.true(seen[1][1] <= 100 < seen[1][1] + 7)
    mptest.eq(K.warnings_due(st, cfg, 0, MON), [])          # nothing fires twice
    K.on_recharge(st, cfg, 50, 450, MON)                     # new reference 500
    mptest.eq(st["ref"], 500)
    mptest.eq(K.warnings_due(st, cfg, 151, MON), [])
    mptest.eq(K.warnings_due(st, cfg, 150, MON), ["30"])
    mptest.eq(K.warnings_due(st, cfg, 10, MON), ["10"])      # big drop: the next level


def test_levels_crossed_together_fire_together():
    st, cfg = fresh({"warn_pct": [50, 20, 5]})
    K.set_reference(st, 1000)
    mptest.eq(K.warnings_due(st, cfg, 40, MON), ["50", "20", "5"])
    mptest.eq(K.warnings_due(st, cfg, 10, MON), [])


def test_no_percent_warning_without_positive_reference():
    st, cfg = fresh()
    K.set_reference(st, -200)
    mptest.eq(K.warnings_due(st, cfg, -300, MON), [])


def test_imminent_from_recent_rate():
    st, cfg = fresh({"warn_pct": []})
    K.set_reference(st, 100000)
    for h in range(5):                       # 10 minor per hour for 5 hours
        K.note_cost(st, MON + h * H + 60, 10)
    now = MON + 4 * H + 120
    mptest.eq(K.rate_per_day(st, now), (50, 5))
    # 240 left at 10/h is exactly 24 h: not yet; 239 is under 24 h
    mptest.eq(K.warnings_due(st, cfg, 240, now), [])
    mptest.eq(K.warnings_due(st, cfg, 239, now), ["imminent"])
    mptest.eq(K.warnings_due(st, cfg, 100, now), [])
    K.set_reference(st, 100000)              # a recharge re-arms it
    mptest.eq(K.warnings_due(st, cfg, 200, now), ["imminent"])
    # a day with no use: the rate decays to nothing, so no imminent warning
    K.set_reference(st, 100000)
    mptest.eq(K.rate_per_day(st, now + 24 * H), (0, 24))
    mptest.eq(K.warnings_due(st, cfg, 1, now + 24 * H), [])
    st2, cfg2 = fresh({"imminent_h": 0})     # 0 disables it
    K.note_cost(st2, MON, 1000)
    mptest.eq(K.warnings_due(st2, cfg2, 1, MON), [])


def test_rate_window_random_against_model():
    random.seed(21)
    st = K.new_state()
    log = []
    t = MON
    first = None
    for _ in range(600):
        t += random.randint(1, 2 * H)
        c = random.randint(0, 50)
        K.note_cost(st, t, c)
        log.append((t, c))
        while log[0][0] // H <= t // H - 24:
            log.pop(0)      # older than any window the model will ask about
        if first is None:
            first = t
        now = t + random.randint(0, 3 * H)
        nh = now // H
        lh = t // H
        exp = sum(c for (ts, c) in log if ts // H > max(nh, lh) - 24)
        hours = min(24, max(nh, lh) - first // H + 1)
        mptest.eq(K.rate_per_day(st, now), (exp, hours))


def test_emergency_credit_flow():
    st, cfg = fresh()          # 1000 offered at or below 200 (SMETS2 defaults)
    mptest.true(not K.emergency_offered(st, cfg, 201))
    e = mptest.raises(ValueError, K.take_emergency, st, cfg, MON, 201)
    mptest.eq(str(e), "not_offered")
    mptest.true(K.emergency_offered(st, cfg, 200))
    mptest.eq(K.take_emergency(st, cfg, MON, 150), 1000)
    e = mptest.raises(ValueError, K.take_emergency, st, cfg, MON, 150)
    mptest.eq(str(e), "already_taken")
    mptest.true(not K.emergency_offered(st, cfg, 0))
    mptest.true(K.credit_ok(st, cfg, -999, MON))
    mptest.true(not K.credit_ok(st, cfg, -1000, MON))       # used up: off
    mptest.true(st["ec_out"])
    # a partial repayment does not reconnect (SMETS2: repay what was used first)
    to_bal, _ = K.on_recharge(st, cfg, -1000, 500, MON)
    mptest.true(not K.credit_ok(st, cfg, -1000 + to_bal, MON))
    mptest.true(st["ec"])
    to_bal, _ = K.on_recharge(st, cfg, -500, 800, MON)
    mptest.eq(st["ec"], 0)
    mptest.true(K.credit_ok(st, cfg, 300, MON))
    mptest.true(not K.emergency_offered(st, cfg, 300))
    mptest.true(K.emergency_offered(st, cfg, 150))          # offered again on the next descent
    # default balance for take_emergency is the last one credit_ok saw
    K.credit_ok(st, cfg, 100, MON)
    mptest.eq(K.take_emergency(st, cfg, MON), 1000)


def test_debt_recovery_pct_cap_and_carry():
    st, cfg = fresh({"debt_minor": 1000, "debt_pct": 10, "debt_cap_minor": 50,
                     "debt_cap_period": "week"})
    mptest.eq(K.on_recharge(st, cfg, 0, 300, MON), (270, 30))
    mptest.eq(K.on_recharge(st, cfg, 270, 1000, MON + H), (980, 20))   # cap reached
    mptest.eq(K.on_recharge(st, cfg, 0, 1000, MON + 2 * H), (1000, 0))  # carried, not lost
    mptest.eq(st["debt"], 950)
    mptest.eq(K.on_recharge(st, cfg, 0, 1000, MON + 7 * 86400), (950, 50))   # next week
    mptest.eq(st["debt"], 900)
    mptest.eq(K.on_recharge(st, cfg, 0, 1000, MON), (1000, 0))   # clock stepped back: cap stays spent
    mptest.eq(K.describe(st, cfg, 500)["debt_minor"], 900)
    # no cap: 10 % each time until the debt is gone, never more than the debt
    st, cfg = fresh({"debt_minor": 150, "debt_pct": 10})
    got = [K.on_recharge(st, cfg, 0, 1000, MON + i)[1] for i in range(3)]
    mptest.eq(got, [100, 50, 0])
    # re-configuring the debt sets the outstanding amount
    cfg.update(K.validate_config({"debt_minor": 70}, cfg))
    mptest.eq(K.on_recharge(st, cfg, 0, 1000, MON + 9), (930, 70))


def test_debt_random_conservation():
    random.seed(23)
    for _ in range(100 * SOAK):
        debt = random.randint(0, 5000)
        pct = random.randint(0, 100)
        cap = random.randint(0, 300)
        st, cfg = fresh({"debt_minor": debt, "debt_pct": pct, "debt_cap_minor": cap,
                         "debt_cap_period": random.choice(("day", "week", "month"))})
        t = MON
        total = 0
        per = {}
        for _ in range(30):
            t += random.randint(0, 3 * 86400)
            amt = random.randint(0, 2000)
            to_bal, rec = K.on_recharge(st, cfg, 0, amt, t)
            mptest.eq(to_bal + rec, amt)
            mptest.true(0 <= rec <= amt * pct // 100)
            total += rec
            p = t // 86400 // K.PERIODS[cfg["debt_cap_period"]]
            per[p] = per.get(p, 0) + rec
            if cap:
                mptest.true(per[p] <= cap)
        mptest.eq(total + st["debt"], debt)



def test_warnings_random_walk_against_model():
    # random recharges and spending; model: level p fires at the first balance at or below
    # ref*p/100 after each recharge, and never again until the next recharge
    random.seed(27)
    for walk in range(40 * SOAK):
        pct = sorted(set(random.randint(1, 99) for _ in range(random.randint(1, 4))), reverse=True)
        st, cfg = fresh({"warn_pct": pct, "imminent_h": 0})
        bal, ref, done = 0, 0, set()
        for _ in range(120):
            if random.random() < 0.1:
                amt = random.randint(0, 5000)
                to_bal, _ = K.on_recharge(st, cfg, bal, amt, MON)
                bal += to_bal
                ref, done = bal, set()
            else:
                bal -= random.randint(0, 400)
            got = K.warnings_due(st, cfg, bal, MON)
            exp = []
            for p in pct:
                if ref > 0 and p not in done and bal * 100 <= ref * p:
                    done.add(p)
                    exp.append(str(p))
            mptest.eq(got, exp, "walk %d" % walk)


def test_emergency_and_friendly_floors_combine():
    st, cfg = fresh({"friendly": {"windows": [["20:00", "08:00"]]}, "friendly_floor_minor": -300})
    night, day = MON + 22 * H, MON + 12 * H
    K.take_emergency(st, cfg, night, 100)
    mptest.true(K.credit_ok(st, cfg, -999, night))     # emergency floor (-1000) is lower
    mptest.true(K.credit_ok(st, cfg, -999, day))
    mptest.true(not K.credit_ok(st, cfg, -1000, night))
    st, cfg = fresh({"friendly": {"windows": [["20:00", "08:00"]]}, "friendly_floor_minor": -5000,
                     "emergency_minor": 500})
    K.take_emergency(st, cfg, night, 100)
    mptest.true(K.credit_ok(st, cfg, -4000, night))    # friendly floor is lower at night
    mptest.true(not K.credit_ok(st, cfg, -4000, day))   # morning: emergency used up -> off
    mptest.true(st["ec_out"])
    mptest.true(not K.credit_ok(st, cfg, -400, day))    # stays off until repaid


mptest.main(globals())
