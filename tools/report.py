#!/usr/bin/env python3
"""Render a sim recording as a self-contained HTML report (charts embedded as data URIs,
viewable offline) and the same charts as PNG files.

    python tools/report.py out/sim/recording.json out/sim/

Charts: balance over time per meter with warnings, recharges and supply changes marked;
daily consumption and cost per meter (from the meters' `daily` events, what the resident
sees); for a building, the master-versus-households balance per utility. Then the
expectation results, the building findings and the event table.
"""
import base64
import datetime
import html
import io
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

UNIT = {"electricity": "Wh", "water": "L", "gas": "L"}
SUPPLY_COLOURS = {"on": "#2e7d32", "armed": "#f9a825", "off_credit": "#c62828",
                  "off_remote": "#6a1b9a", "off_safety": "#d84315"}


TZ_OFFSET_S = 0   # set from the recording: charts and tables show the scenario's local time


def _dt(ts):
    return datetime.datetime.fromtimestamp(ts + TZ_OFFSET_S, datetime.timezone.utc).replace(tzinfo=None)


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def balance_chart(meters, currency_minor="minor units"):
    names = [m for m in meters if meters[m].get("tele")]
    if not names:
        return None
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 2.6 * len(names)), sharex=True, squeeze=False)
    for ax, mid in zip(axes[:, 0], names):
        m = meters[mid]
        tele = m["tele"]
        ax.step([_dt(t[0]) for t in tele], [t[1] for t in tele], where="post", color="#1565c0", lw=1.4)
        ax.axhline(0, color="#999", lw=0.8)
        for e in m.get("events", []):
            x = _dt(e["ts"])
            if e["type"] == "low_balance":
                ax.axvline(x, color="#f9a825", ls="--", lw=1)
                ax.annotate("low %s" % e.get("level"), (x, ax.get_ylim()[1]), fontsize=7, color="#8d6e00",
                            rotation=90, va="top", ha="right")
            elif e["type"] == "supply":
                ax.axvline(x, color=SUPPLY_COLOURS.get(e.get("state"), "#555"), lw=1.2)
                ax.annotate(e.get("state"), (x, ax.get_ylim()[0]), fontsize=7, rotation=90, va="bottom",
                            ha="right", color=SUPPLY_COLOURS.get(e.get("state"), "#555"))
            elif e["type"] == "recharge":
                ax.plot([x], [e.get("balance", 0)], marker="^", color="#2e7d32", ms=7)
            elif e["type"] == "alarm":
                ax.plot([x], [ax.get_ylim()[0]], marker="x", color="#c62828", ms=8)
        ax.set_title("%s (%s): balance in %s" % (mid, m.get("kind"), currency_minor), fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def daily_chart(meters):
    names = [m for m in meters if any(e["type"] == "daily" for e in meters[m].get("events", []))]
    if not names:
        return None
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 2.4 * len(names)), squeeze=False)
    for ax, mid in zip(axes[:, 0], names):
        days = [e for e in meters[mid]["events"] if e["type"] == "daily"]
        xs = list(range(len(days)))
        ax.bar([x - 0.2 for x in xs], [d.get("use", 0) for d in days], 0.4, color="#1565c0",
               label="use (%s)" % UNIT.get(meters[mid].get("kind"), ""))
        ax2 = ax.twinx()
        ax2.bar([x + 0.2 for x in xs], [d.get("cost", 0) for d in days], 0.4, color="#ef6c00", label="cost (minor)")
        ax.set_xticks(xs)
        ax.set_xticklabels([d.get("day", "?") for d in days], fontsize=8)
        ax.set_title("%s (%s): daily use (blue) and cost (orange)" % (mid, meters[mid].get("kind")),
                     fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def building_chart(balances):
    if not balances:
        return None
    kinds = list(balances)
    fig, axes = plt.subplots(len(kinds), 1, figsize=(11, 2.6 * len(kinds)), squeeze=False, sharex=True)
    for ax, k in zip(axes[:, 0], kinds):
        b = balances[k]
        xs = [_dt(t) for t in b["edges"][:-1]]
        ax.plot(xs, b["master"], label="master", color="#1565c0")
        ax.plot(xs, [m - l for m, l in zip(b["master"], b["loss"])], label="sum of households", color="#2e7d32")
        ax.bar(xs, b["loss"], width=0.03, color="#c62828", label="loss")
        ax.plot(xs, b["tolerance"], ls=":", color="#999", label="tolerance")
        ax.set_title("%s: building balance per interval (%s)" % (k, UNIT[k]), fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def _event_rows(meters, limit=2000):
    rows = []
    for mid, m in meters.items():
        for e in m.get("events", []):
            rest = {k: v for k, v in e.items() if k not in ("seq", "ts", "type")}
            rows.append((e["ts"], mid, e.get("seq"), e["type"], json.dumps(rest, sort_keys=True)))
    rows.sort()
    return rows[:limit], len(rows)


def render(rec, outdir):
    global TZ_OFFSET_S
    TZ_OFFSET_S = rec.get("tz_offset_s", 0)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    meters = rec["meters"]
    charts = []
    household = {k: v for k, v in meters.items() if v.get("household") != "master"}
    shown = dict(list(household.items())[:6]) if len(household) > 6 else household
    for name, fig in (("balance", balance_chart(shown)), ("daily", daily_chart(shown)),
                      ("building", building_chart(rec.get("analysis", {}).get("balances")))):
        if fig is None:
            continue
        data = _png(fig)
        (outdir / ("%s.png" % name)).write_bytes(data)
        charts.append((name, base64.b64encode(data).decode()))
    exp = rec.get("expectations", [])
    rows, total = _event_rows(meters)
    h = ["<!doctype html><html><head><meta charset='utf-8'><title>Meter sim report: %s</title>" % html.escape(rec.get("scenario", "")),
         "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;font-size:12px}"
         "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}.ok{color:#2e7d32}.bad{color:#c62828}"
         "img{max-width:100%}code{font-size:12px}</style></head><body>",
         "<h1>Scenario <code>%s</code></h1>" % html.escape(rec.get("scenario", "")),
         "<p>Simulated %s to %s (local time) on the real firmware (MicroPython unix port, sim boards), broker <code>%s</code>. "
         "%d meters, %d events.</p>" % (_dt(rec.get("start_ts", 0)), _dt(rec.get("end_ts", 0)),
                                         html.escape(rec.get("broker", "")), len(meters), total)]
    if exp:
        ok = sum(1 for e in exp if e["ok"])
        h.append("<h2>Expectations: %d of %d hold</h2><table><tr><th></th><th>expectation</th><th>detail</th></tr>" % (ok, len(exp)))
        for e in exp:
            h.append("<tr><td class='%s'>%s</td><td>%s</td><td>%s</td></tr>" % (
                "ok" if e["ok"] else "bad", "&#10004;" if e["ok"] else "&#10008;",
                html.escape(e["name"]), html.escape(str(e.get("detail", "")))))
        h.append("</table>")
    findings = rec.get("analysis", {}).get("findings")
    if findings is not None:
        h.append("<h2>Building findings</h2>")
        if not findings:
            h.append("<p>No finding: every utility balances within tolerance.</p>")
        else:
            h.append("<table><tr><th>utility</th><th>rank</th><th>finding</th><th>where</th><th>score</th><th>evidence</th></tr>")
            for f in findings:
                h.append("<tr><td>%s</td><td>%d</td><td>%s</td><td>%s</td><td>%.2f</td><td>%s</td></tr>" % tuple(
                    html.escape(str(x)) if isinstance(x, str) else x for x in
                    (f["utility"], f["rank"], f["finding"], f["where"], f["score"], f["evidence"])))
            h.append("</table>")
    titles = {"balance": "Balance over time", "daily": "Daily consumption and cost", "building": "Building balance"}
    for name, b64 in charts:
        h.append("<h2>%s</h2><img alt='%s' src='data:image/png;base64,%s'>" % (titles[name], name, b64))
    h.append("<h2>Events</h2><table><tr><th>local time</th><th>meter</th><th>seq</th><th>type</th><th>fields</th></tr>")
    for ts, mid, seq, typ, rest in rows:
        h.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td></tr>" % (
            _dt(ts), html.escape(mid), seq, html.escape(typ), html.escape(rest)))
    if total > len(rows):
        h.append("<tr><td colspan=5>... %d more in recording.json</td></tr>" % (total - len(rows)))
    h.append("</table></body></html>")
    path = outdir / "report.html"
    path.write_text("\n".join(h))
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: report.py <recording.json> <outdir>", file=sys.stderr)
        sys.exit(2)
    print(render(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2]))
