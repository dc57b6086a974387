"""What a process and the machine spend, from Linux /proc (tools/fleet.py).

PSS (proportional set size, /proc/<pid>/smaps_rollup) is the fair per-process memory
figure for a fleet: pages shared by N processes (the MicroPython binary, its frozen
firmware, libc) count 1/N to each, so N x PSS is what the fleet really occupies. RSS
counts every shared page in full in every process.
"""
import os

TCK = os.sysconf("SC_CLK_TCK")


def _field(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def pss_kb(pid):
    return _field("/proc/%d/smaps_rollup" % pid, "Pss:")


def rss_kb(pid):
    return _field("/proc/%d/status" % pid, "VmRSS:")


def wakeups(pid):
    """Voluntary context switches: one each time the process sleeps (poll, sleep)."""
    return _field("/proc/%d/status" % pid, "voluntary_ctxt_switches:")


def cpu_s(pid):
    """CPU seconds of a single-threaded process: /proc/<pid>/schedstat counts nanoseconds
    (an idle meter spends microseconds a second, far below /proc/<pid>/stat's 10 ms ticks)."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, IndexError, ValueError):
        pass
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read().rsplit(")", 1)[1].split()
        return (int(s[11]) + int(s[12])) / TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_cpu():
    """(busy s, total s) summed over all cores since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v) - idle) / TCK, sum(v) / TCK


def mem_available_kb():
    return _field("/proc/meminfo", "MemAvailable:")


def mem_total_kb():
    return _field("/proc/meminfo", "MemTotal:")


class Window:
    """CPU and wakeups of a set of processes and of the whole machine over a time window."""

    def __init__(self, pids, broker_pid=None):
        self.pids = list(pids)
        self.broker_pid = broker_pid
        self.t0 = self._now()

    def _now(self):
        import time
        return {"t": time.time(), "cpu": sum(cpu_s(p) for p in self.pids),
                "wake": sum(wakeups(p) or 0 for p in self.pids),
                "broker": cpu_s(self.broker_pid) if self.broker_pid else 0.0,
                "self": sum(os.times()[:2]), "machine": machine_cpu()}

    def end(self):
        a, b = self.t0, self._now()
        dt = max(1e-6, b["t"] - a["t"])
        n = max(1, len(self.pids))
        busy = b["machine"][0] - a["machine"][0]
        total = b["machine"][1] - a["machine"][1]
        return {"seconds": round(dt, 1),
                "meter_cpu_ms_per_s": round(1000.0 * (b["cpu"] - a["cpu"]) / dt / n, 3),
                "meters_cpu_pct": round(100.0 * (b["cpu"] - a["cpu"]) / dt, 1),
                "wakeups_per_meter_s": round((b["wake"] - a["wake"]) / dt / n, 2),
                "broker_cpu_pct": round(100.0 * (b["broker"] - a["broker"]) / dt, 1) if self.broker_pid else None,
                "headend_cpu_pct": round(100.0 * (b["self"] - a["self"]) / dt, 1),
                "machine_busy_pct": round(100.0 * busy / total, 1) if total else None}
