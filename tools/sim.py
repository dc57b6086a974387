#!/usr/bin/env python3
"""`make sim`: the whole system end to end on one machine.

Starts a broker (BROKER=mqtt://... for an external one), provisions the scenario's meters
into out/sim/<id>/, runs each as a real firmware process (MicroPython unix port, sim board),
plays the scenario's steps through the reference head-end's signed commands, prints a
progress bar in simulated time and a timeline of events, then writes out/sim/report.html
(+ PNG charts and recording.json) and checks the scenario's expectations: exit 0 when all
hold, otherwise exit 1 naming the first that failed.

Scenario format: tools/scenarios/README.md.
"""
import argparse
import datetime
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from brokers import Broker  # noqa: E402
from heap_policy import APP_HEAP  # noqa: E402
import headend  # noqa: E402

MICROPYTHON = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
# The meters run the deployable bundle that `make firmware BOARD=sim` compiles (.mpy), as an
# ESP32 would: importing from source needs far more heap for the compiler.
BUNDLE = Path(os.environ.get("SIM_BUNDLE") or ROOT / "build" / "sim")
MPYPATH = "%s:%s" % (BUNDLE, BUNDLE / "lib")


def parse_at(at, start_ts, tz):
    """'d1 07:30' or 'd1 07:30:15' -> unix seconds: day 1 (0-based) of the scenario, local time."""
    try:
        day, hhmm = at.split()
        if not day.startswith("d"):
            raise ValueError
        hms = [int(x) for x in hhmm.split(":")]
        if len(hms) == 2:
            hms.append(0)
        h, m, sec = hms
    except ValueError:
        raise ValueError("scenario time %r must look like 'd1 07:30' or 'd1 07:30:15'" % at)
    local_midnight = (start_ts + tz) // 86400 * 86400 - tz
    return local_midnight + int(day[1:]) * 86400 + h * 3600 + m * 60 + sec


def script_for(spec, start_ts, tz):
    """The scenario's sim_script with its 'dN HH:MM' instants turned into unix seconds."""
    out = dict(spec)
    for key in ("once", "add"):
        if key in spec:
            out[key] = [[parse_at(t, start_ts, tz) if isinstance(t, str) else t, f] for t, f in spec[key]]
    return out


def match(ev, pattern):
    return all(ev.get(k) == v for k, v in pattern.items())


class Run:
    def __init__(self, scenario, out, broker_url=None, speed=None, quiet=False):
        self.sc = scenario
        self.out = Path(out).resolve()
        self.speed = speed or scenario.get("sim_speed", 1200)
        self.quiet = quiet
        self.tz = scenario.get("tz_offset_s", 0)
        self.start_ts = int(datetime.datetime.fromisoformat(scenario["start"].replace("Z", "+00:00")).timestamp())
        self.end_ts = (parse_at(scenario["end"], self.start_ts, self.tz) if "end" in scenario
                       else self.start_ts + int(scenario["days"] * 86400))
        self.broker = Broker(url=broker_url or os.environ.get("BROKER") or None)
        self.root = scenario.get("root", "meters")
        self.meters = {}      # alias -> dict(id, kind, key, dir, proc, ts, events, tele, ...)
        self.by_id = {}
        self.lock = threading.Lock()
        self.timeline = []
        self.failed_steps = []

    # ---------------------------------------------------------------- provisioning
    def provision(self):
        if self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True)
        for alias, m in self.sc["meters"].items():
            mid = m.get("id", alias)
            d = self.out / mid
            extra = {"sim_start": self.start_ts}
            for k in ("tariff", "config", "paygo"):
                if k in m:
                    extra[k] = m[k]
            if "sim_script" in m:
                extra["sim_script"] = script_for(m["sim_script"], self.start_ts, self.tz)
            cfg = headend.provision(d, mid, m["kind"], self.broker.uri, sim_speed=self.speed, root=self.root,
                                    extra=extra)
            rec = {"alias": alias, "id": mid, "kind": m["kind"], "household": m.get("household", "H01"),
                   "key": bytes.fromhex(cfg["key"]), "dir": d, "proc": None, "ts": 0, "events": [],
                   "seen": set(), "tele": [], "readings": [], "state": None, "acks": {},
                   # the simulated world (sim_script) lives in the meter process too: a bulk
                   # meter's script of every household's changes needs room of its own
                   "heap": m.get("heap") or os.environ.get("SIM_HEAP", APP_HEAP)}
            self.meters[alias] = rec
            self.by_id[mid] = rec

    # ---------------------------------------------------------------- MQTT follower
    def on_message(self, client, userdata, msg):
        parts = msg.topic.split("/")
        if len(parts) < 3 or parts[-2] not in self.by_id:
            return
        m = self.by_id[parts[-2]]
        leaf = parts[-1]
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        with self.lock:
            if leaf == "evt":
                if body.get("seq") in m["seen"]:
                    return  # QoS 1 may deliver twice: dedupe by the meter's event seq
                m["seen"].add(body.get("seq"))
                m["events"].append(body)
                m["ts"] = max(m["ts"], body.get("ts", 0))
                self.print_event(m, body)
            elif leaf == "tele":
                ts = body.get("ts", 0)
                m["ts"] = max(m["ts"], ts)
                m["tele"].append([ts, body.get("balance"), body.get("register"), body.get("supply"),
                                  body.get("price")])
                if body.get("register") is not None:
                    m["readings"].append([ts, body["register"]])
            elif leaf == "state":
                m["state"] = body
            elif leaf == "ack":
                m["acks"][body.get("id")] = body

    def print_event(self, m, e):
        rest = " ".join("%s=%s" % (k, e[k]) for k in e if k not in ("seq", "ts", "type"))
        line = "%s  %-9s %-12s %s" % (self.fmt_ts(e.get("ts", 0)), m["alias"], e["type"], rest)
        self.timeline.append(line)
        self._say(line)

    def _say(self, line):
        if not self.quiet:
            sys.stdout.write(("\r\033[K" if sys.stdout.isatty() else "") + line + "\n")
            sys.stdout.flush()

    def fmt_ts(self, ts):
        d = datetime.datetime.fromtimestamp(ts + self.tz, datetime.timezone.utc)
        day = (ts + self.tz) // 86400 - (self.start_ts + self.tz) // 86400
        return "d%d %s" % (day, d.strftime("%H:%M:%S"))

    # ---------------------------------------------------------------- meters
    def start_meters(self):
        for m in self.meters.values():
            log = open(m["dir"].parent / ("%s.log" % m["id"]), "w")
            env = dict(os.environ, MICROPYPATH=MPYPATH)
            m["proc"] = subprocess.Popen(
                [MICROPYTHON, "-X", "heapsize=%s" % m["heap"],
                 str(BUNDLE / "main.py"), str(m["dir"])],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(m["dir"]))

    def stop_meters(self):
        for m in self.meters.values():
            p = m["proc"]
            if p and p.poll() is None:
                p.send_signal(signal.SIGINT)
        for m in self.meters.values():
            p = m["proc"]
            if p:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()

    def sim_now(self):
        """The simulated time every always-online meter has reached (the slowest one)."""
        online = [m["ts"] for m in self.meters.values() if m["kind"] != "water"] or \
                 [m["ts"] for m in self.meters.values()]
        return min(online) if online else 0

    # ---------------------------------------------------------------- steps
    def send(self, m, op, args):
        cid = "sim-%s" % secrets.token_hex(4)
        self.seq[m["id"]] = self.seq.get(m["id"], 0) + 1
        body = {"id": cid, "meter": m["id"], "seq": self.seq[m["id"]], "op": op, "args": args}
        self.client.publish("%s/%s/cmd" % (self.root, m["id"]), headend.sign(m["key"], json.dumps(body, separators=(",", ":")).encode()), qos=1)
        return cid

    def do_step(self, st):
        m = self.meters[st["meter"]]
        if "op" in st:
            args = dict(st.get("args", {}))
            if st["op"] == "recharge" and "txn" not in args:
                args["txn"] = "sim-%s" % secrets.token_hex(6)
            self.send(m, st["op"], args)
            what = "%s %s" % (st["op"], json.dumps(args))
        else:
            self.client.publish("%s/%s/sim" % (self.root, m["id"]), json.dumps(st["sim"]), qos=1)
            what = "sim %s" % json.dumps(st["sim"])
        line = "%s  %-9s >> %s%s" % (self.fmt_ts(self.sim_now()), st["meter"], what,
                                      ("   (" + st["note"] + ")") if st.get("note") else "")
        self.timeline.append(line)
        self._say(line)

    def progress(self):
        now = self.sim_now()
        frac = max(0.0, min(1.0, (now - self.start_ts) / max(1, self.end_ts - self.start_ts)))
        bar = "#" * int(frac * 40)
        line = "[%-40s] %3d%%  sim %s" % (bar, frac * 100, self.fmt_ts(max(now, self.start_ts)))
        if sys.stdout.isatty():
            sys.stdout.write("\r\033[K" + line)
        elif int(frac * 20) != getattr(self, "_last_step", -1):   # a log file: a line every 5 %
            self._last_step = int(frac * 20)
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    # ---------------------------------------------------------------- main
    def run(self):
        self.broker.start()
        try:
            self.provision()
            self.seq = {}
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sim-headend-%d" % os.getpid())
            self.client.on_message = self.on_message
            self.client.username_pw_set("sim-headend")    # amqtt queues only for named sessions
            self.client.connect(self.broker.host, self.broker.port)
            self.client.socket().setsockopt(6, 1, 1)
            for leaf in ("evt", "tele", "state", "ack"):
                self.client.subscribe("%s/+/%s" % (self.root, leaf), qos=1)
            self.client.loop_start()
            time.sleep(0.3)
            self.start_meters()
            timed = sorted([s for s in self.sc.get("steps", []) if "at" in s],
                           key=lambda s: parse_at(s["at"], self.start_ts, self.tz))
            triggered = [dict(s, _done=False, _since=None) for s in self.sc.get("steps", []) if "on" in s]
            wall_limit = time.time() + 60 + 3 * (self.end_ts - self.start_ts) / self.speed
            while True:
                now = self.sim_now()
                while timed and parse_at(timed[0]["at"], self.start_ts, self.tz) <= now:
                    self.do_step(timed.pop(0))
                for st in triggered:
                    if st["_done"]:
                        continue
                    on = st["on"]
                    src = self.meters[on["meter"]]
                    with self.lock:
                        hit = [e for e in src["events"] if match(e, {k: v for k, v in on.items() if k != "meter"})]
                    if st.get("nth", 1) <= len(hit):
                        ev = hit[st.get("nth", 1) - 1]
                        if src["ts"] >= ev["ts"] + st.get("after_s", 0):
                            st["_done"] = True
                            self.do_step(st)
                for m in self.meters.values():
                    if m["proc"].poll() is not None:
                        raise RuntimeError("meter %s exited with %s (log %s.log)" % (
                            m["id"], m["proc"].returncode, m["dir"].parent / m["id"]))
                if not self.quiet:
                    self.progress()
                if now >= self.end_ts:
                    break
                if time.time() > wall_limit:
                    raise RuntimeError("the meters fell too far behind simulated time (at %s)" % self.fmt_ts(now))
                time.sleep(0.05)
            time.sleep(2.0)   # last events in flight
            if not self.quiet:
                sys.stdout.write("\n")
        finally:
            self.stop_meters()
            try:
                self.client.loop_stop()
            except Exception:
                pass
            self.broker.stop()
        return self.finish()

    def check(self, exp):
        m = self.meters[exp["meter"]]
        evs = m["events"]
        if "event" in exp:
            n = sum(1 for e in evs if match(e, exp["event"]))
            want = exp.get("count")
            ok = (n == want) if want is not None else n >= exp.get("min_count", 1)
            return ok, "%d matching event(s)" % n
        if "no_event" in exp:
            n = sum(1 for e in evs if match(e, exp["no_event"]))
            return n == 0, "%d matching event(s)" % n
        if "sequence" in exp:
            i = 0
            for e in evs:
                if i < len(exp["sequence"]) and match(e, exp["sequence"][i]):
                    i += 1
            return i == len(exp["sequence"]), "matched %d of %d in order" % (i, len(exp["sequence"]))
        if "price_switch" in exp:
            ps = exp["price_switch"]
            want = parse_at("d0 " + ps["at"], self.start_ts, self.tz) % 86400
            tele = sorted(m["tele"])
            for a, b in zip(tele, tele[1:]):
                if a[4] == ps["from"] and b[4] == ps["to"]:
                    delta = (want - a[0]) % 86400      # the switching instant must lie in (a, b]
                    ok = 0 < delta <= b[0] - a[0]
                    return ok, "price %s -> %s between %s and %s" % (a[4], b[4], self.fmt_ts(a[0]), self.fmt_ts(b[0]))
            return False, "no switch from %s to %s in telemetry" % (ps["from"], ps["to"])
        if "final_supply" in exp:
            sup = [e for e in evs if e["type"] == "supply"]
            last = sup[-1]["state"] if sup else None
            return last == exp["final_supply"], "last supply event: %s" % last
        raise ValueError("expectation %r has no known check" % exp.get("name"))

    def finish(self):
        results = []
        for exp in self.sc.get("expect", []):
            ok, detail = self.check(exp)
            results.append({"name": exp["name"], "ok": ok, "detail": detail})
        rec = {"scenario": self.sc["name"], "start_ts": self.start_ts, "end_ts": self.end_ts, "tz_offset_s": self.tz,
               "broker": "%s (%s)" % (self.broker.uri, self.broker.kind), "expectations": results,
               "meters": {m["id"]: {"kind": m["kind"], "household": m["household"], "events": m["events"],
                                    "tele": m["tele"], "readings": m["readings"]} for m in self.meters.values()}}
        if self.sc.get("analysis"):
            import analysis
            rec["analysis"] = analysis.analyse(rec, self.sc.get("interval_s", 3600))
            for exp in self.sc.get("expect_findings", []):
                ok, detail = check_finding(rec["analysis"]["findings"], exp)
                results.append({"name": exp["name"], "ok": ok, "detail": detail})
        (self.out / "recording.json").write_text(json.dumps(rec))
        import report
        path = report.render(rec, self.out)
        print("report: %s" % path)
        for r in results:
            print("  %s %s  (%s)" % ("PASS" if r["ok"] else "FAIL", r["name"], r["detail"]))
        bad = [r for r in results if not r["ok"]]
        if bad:
            print("sim: expectation failed: %s (%s)" % (bad[0]["name"], bad[0]["detail"]))
            return 1
        print("sim: all %d expectations hold" % len(results))
        return 0


def check_finding(findings, exp):
    """exp: {"name", "utility", "finding", "where_contains"} must be rank 1; {"none": true} = no finding."""
    if exp.get("none"):
        return not findings, "%d finding(s)" % len(findings)
    first = [f for f in findings if f["utility"] == exp["utility"] and f["rank"] == 1]
    if not first:
        return False, "no finding for %s" % exp["utility"]
    f = first[0]
    ok = f["finding"] == exp["finding"] and exp.get("where_contains", "") in f["where"]
    return ok, "rank 1: %s at %s (score %.2f)" % (f["finding"], f["where"], f["score"])


def load_scenario(name):
    p = Path(name)
    if not p.exists():
        p = HERE / "scenarios" / ("%s.json" % name)
    if not p.exists():
        known = ", ".join(sorted(x.stem for x in (HERE / "scenarios").glob("*.json")))
        raise SystemExit("sim: no scenario %r (known: %s)" % (name, known))
    sc = json.loads(p.read_text())
    if sc.get("generator"):
        import importlib
        sc = importlib.import_module(sc["generator"]).generate(sc)
    return sc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=os.environ.get("SCENARIO", "household"))
    ap.add_argument("--out", default=os.environ.get("OUT", "out/sim"))
    ap.add_argument("--broker", default=os.environ.get("BROKER"))
    ap.add_argument("--speed", type=int, default=int(os.environ["SIM_SPEED"]) if os.environ.get("SIM_SPEED") else None)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    sc = load_scenario(a.scenario)
    return Run(sc, a.out, a.broker, a.speed, a.quiet).run()


if __name__ == "__main__":
    sys.exit(main())
