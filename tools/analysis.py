#!/usr/bin/env python3
"""Building-level anomaly location: balance the bulk (master) meter of each utility against
the sum of its household meters, localise the losses, and rank suspects using all three
utilities together.

Input: a recording, i.e. for every meter its kind, its household ("master" for the bulk
meter) and its register readings over time [[ts, register], ...] (base units: Wh for
electricity, litres for water and gas), as the head-end collects them from `tele`.

Method, per utility:
1. Resample every register at fixed interval boundaries (default 1 h) and take differences.
2. loss[t] = master[t] - sum(households[t]). An interval is lossy when the loss exceeds the
   utility's tolerance: max(absolute floor, relative share of the master's use). The
   tolerances stand for metering error and the unmetered common parts of a building.
3. No sustained loss: no finding (a fault-free building must give none).
4. A sustained loss is classified by its shape:
   - steady (low variation, present in the quiet hours too): a leak in the shared network
     between the building inlet and the household meters ("network leak"; for gas, the riser);
   - otherwise it follows somebody's use: a bypass or theft. Every household is scored:
     how far its own meter's use fell after the loss began, whether its other utilities
     carried on as before (a home whose electricity drops to near zero while water and gas
     carry on is occupied), and how well the loss follows that household's earlier profile.
Findings are ranked per utility, highest score first, each with its evidence.
"""
import json
import math
import sys

UTILITIES = ("electricity", "water", "gas")
# Tolerances per interval: (absolute floor in base units per hour, relative share of master use).
TOLERANCE = {"electricity": (50, 0.02), "water": (5, 0.02), "gas": (5, 0.02)}
SUSTAINED = 0.5       # share of intervals after onset that must be lossy
MIN_LOSSY = 3         # at least this many lossy intervals
STEADY_CV = 0.35      # coefficient of variation below which a loss is "steady"


def resample(readings, edges):
    """Register value at each edge by linear interpolation (clamped at the ends)."""
    pts = sorted((int(t), float(r)) for t, r in readings)
    if not pts:
        return [0.0] * len(edges)
    out, j = [], 0
    for e in edges:
        while j + 1 < len(pts) and pts[j + 1][0] <= e:
            j += 1
        t0, r0 = pts[j]
        if e <= pts[0][0]:
            out.append(pts[0][1])
        elif j + 1 < len(pts):
            t1, r1 = pts[j + 1]
            out.append(r0 + (r1 - r0) * (e - t0) / (t1 - t0) if t1 > t0 else r0)
        else:
            out.append(pts[-1][1])
    return out


def interval_use(readings, edges):
    r = resample(readings, edges)
    return [max(0.0, r[i + 1] - r[i]) for i in range(len(r) - 1)]


def edge_uncertainty(readings, edges):
    """How wrong the interpolated register can be at each edge: the use between the two
    readings that bracket it. A water meter that reports at its sessions has readings an hour
    or more apart, and a shower between two of them may fall on either side of an edge."""
    pts = sorted((int(t), float(r)) for t, r in readings)
    out, j = [], 0
    for e in edges:
        while j + 1 < len(pts) and pts[j + 1][0] <= e:
            j += 1
        if not pts or e <= pts[0][0] or j + 1 >= len(pts) or pts[j][0] == e:
            out.append(0.0)
        else:
            out.append(pts[j + 1][1] - pts[j][1])
    return out


def _mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def _corr(a, b):
    n = min(len(a), len(b))
    if n < 3:
        return 0.0
    a, b = a[:n], b[:n]
    ma, mb = _mean(a), _mean(b)
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va <= 0 or vb <= 0:
        return 0.0
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / math.sqrt(va * vb)


def analyse(recording, interval_s=3600):
    meters = recording["meters"]
    t_lo = max(min(r[0] for r in m["readings"]) for m in meters.values() if m["readings"])
    t_hi = min(max(r[0] for r in m["readings"]) for m in meters.values() if m["readings"])
    start = (t_lo + interval_s - 1) // interval_s * interval_s
    edges = list(range(start, t_hi + 1, interval_s))
    if len(edges) < 4:
        raise ValueError("recording too short: %d intervals of %d s" % (len(edges) - 1, interval_s))
    use = {mid: interval_use(m["readings"], edges) for mid, m in meters.items()}
    homes = sorted({m["household"] for m in meters.values() if m["household"] != "master"})
    by = {}  # (household, kind) -> meter id
    for mid, m in meters.items():
        by[(m["household"], m["kind"])] = mid
    findings = []
    balances = {}
    for kind in UTILITIES:
        master = by.get(("master", kind))
        if master is None:
            continue
        hids = [by[(h, kind)] for h in homes if (h, kind) in by]
        n = len(edges) - 1
        loss = [use[master][i] - sum(use[h][i] for h in hids) for i in range(n)]
        floor, rel = TOLERANCE[kind]
        base_tol = [max(floor * interval_s / 3600, rel * use[master][i]) for i in range(n)]
        # what interpolating sparse readings could hide in each interval: the meters' errors are
        # independent, so they add in quadrature (root-sum-square) over meters and both edges
        var = [0.0] * n
        for mid in [master] + hids:
            u = edge_uncertainty(meters[mid]["readings"], edges)
            for i in range(n):
                var[i] += u[i] ** 2 + u[i + 1] ** 2
        unc = [math.sqrt(v) for v in var]
        # an interval is lossy when the loss exceeds metering error plus that uncertainty, and
        # conclusive when the uncertainty does not dominate the metering tolerance
        tol = [base_tol[i] + unc[i] for i in range(n)]
        conclusive = [unc[i] <= base_tol[i] for i in range(n)]
        lossy = [loss[i] > tol[i] for i in range(n)]
        balances[kind] = {"edges": edges, "master": use[master], "loss": loss, "tolerance": tol,
                          "conclusive": conclusive}
        if sum(lossy) < MIN_LOSSY:
            continue
        # the onset is the change point that best splits the run into "balanced" then "lossy"
        best, onset = -1, 0
        for i in range(n):
            agree = (sum(1 for k in range(i) if conclusive[k] and not lossy[k])
                     + sum(1 for k in range(i, n) if conclusive[k] and lossy[k]))
            if agree > best:
                best, onset = agree, i
        after = [lossy[k] for k in range(onset, n) if conclusive[k]]
        if not after or sum(after) < SUSTAINED * len(after):
            continue
        la = [loss[k] for k in range(onset, n) if conclusive[k]]
        m, sd = _mean(la), math.sqrt(_mean([(x - _mean(la)) ** 2 for x in la]))
        cv = sd / m if m > 0 else 9.9
        base = {"utility": kind, "onset_ts": edges[onset], "mean_loss_per_h": round(m * 3600 / interval_s, 1),
                "conclusive_intervals": len(la),
                "loss_share": round(sum(la) / max(1e-9, sum(use[master][onset:])), 3),
                "lossy_intervals": sum(after), "intervals": n - onset, "cv": round(cv, 2)}
        cands = []
        # a steady loss that persists through the quiet hours is a leak in the shared network:
        # the utilities' minimum-night-flow test (legitimate use is lowest, the leak is not)
        quiet = sorted([k for k in range(onset, n) if conclusive[k]],
                       key=lambda i: use[master][i])[: max(1, len(la) // 4)]
        quiet_share = _mean([loss[i] for i in quiet]) / m if m > 0 else 0
        if cv < STEADY_CV and quiet_share > 0.5:
            where = "riser (gas pipework shared by the households)" if kind == "gas" else (
                "building network between the inlet and the household meters")
            cands.append(dict(base, finding="network_leak", where=where, score=round(1.0 - cv, 3),
                              evidence="steady loss of %.1f/h (cv %.2f), also in the quiet hours"
                                       % (base["mean_loss_per_h"], cv)))
        for h in homes:
            mid = by.get((h, kind))
            if mid is None:
                continue
            before, after_u = use[mid][:onset], use[mid][onset:]
            if not before or _mean(before) <= 0:
                continue
            drop = max(0.0, 1.0 - _mean(after_u) / _mean(before))
            others = []
            for other in UTILITIES:
                oid = by.get((h, other))
                if other == kind or oid is None:
                    continue
                ob, oa = use[oid][:onset], use[oid][onset:]
                if ob and _mean(ob) > 0:
                    others.append(min(1.0, _mean(oa) / _mean(ob)))
            occupied = _mean(others) if others else 0.5
            # does the loss follow what this household used to draw at the same hour of day?
            per_day = max(1, 86400 // interval_s)
            prior = [use[mid][i - per_day] if i - per_day >= 0 and i - per_day < onset else None
                     for i in range(onset, n)]
            pairs = [(loss[i], p) for i, p in zip(range(onset, n), prior) if p is not None]
            follow = max(0.0, _corr([a for a, _ in pairs], [b for _, b in pairs])) if pairs else 0.0
            score = drop * occupied * (0.7 + 0.3 * follow)
            # a bypassed meter reads next to nothing: a home that merely used less is no suspect
            if drop < 0.8 or occupied < 0.5:
                continue
            cands.append(dict(base, finding="suspected_bypass", where="household %s" % h, household=h,
                              meter=mid, score=round(score, 3),
                              evidence="own %s use fell %d%% when the loss began; other utilities at %d%% "
                                       "of before; loss follows its earlier profile (r=%.2f)"
                                       % (kind, round(100 * drop), round(100 * occupied), follow)))
        if not cands:
            cands.append(dict(base, finding="unexplained_loss", where="unknown", score=0.1,
                              evidence="sustained loss of %.1f/h, no household explains it"
                                       % base["mean_loss_per_h"]))
        cands.sort(key=lambda c: -c["score"])
        for rank, c in enumerate(cands, 1):
            c["rank"] = rank
        findings.extend(cands)
    return {"interval_s": interval_s, "findings": findings, "balances": balances}


def format_findings(result):
    lines = []
    if not result["findings"]:
        return "no finding: every utility balances within tolerance"
    for f in result["findings"]:
        lines.append("%-11s #%d %-16s %-34s score %.2f\n    %s" % (
            f["utility"], f["rank"], f["finding"], f["where"][:34], f["score"], f["evidence"]))
    return "\n".join(lines)


def main(argv):
    if len(argv) != 2:
        print("usage: analysis.py <recording.json>", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        rec = json.load(f)
    print(format_findings(analyse(rec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
