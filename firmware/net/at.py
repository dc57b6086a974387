# AT command channel to a modem on a UART (3GPP TS 27.007 / ITU-T V.250 framing), never
# blocking: send() writes one command line, poll() reads what has arrived and returns the
# reply once its final result code is in, or "timeout" once its deadline has passed.
#
# Lines from the modem are one of three things (SIM7070_SIM7080_SIM7090 Series AT Command
# Manual V1.04, "AT command syntax"; TS 27.007 section 9):
#   - the echo of our command (until ATE0 takes effect): dropped;
#   - the reply to the command in flight: information lines (for "+CSQ" only those starting
#     "+CSQ:", or bare lines for commands like +CGSN) then a final result code;
#   - unsolicited result codes (+CEREG:, +CPIN:, RDY, NO CARRIER, ...) at any time, even in
#     the middle of a reply: kept apart in `urcs` for the supervisor.
from time import ticks_add, ticks_diff
from micropython import const

MAX_LINE = const(200)       # longer lines are cut: garbage on the wire never grows RAM
MAX_URCS = const(8)
# information lines kept per reply: the longest real one (+COPS=?, a few operators) is a
# handful; a modem that streams lines until the deadline (ATD waits 30 s, ~345 KB at 115200
# baud) must not grow RAM, so the rest is counted as junk
MAX_LINES = const(16)
FINAL = ("OK", "ERROR", "NO CARRIER", "NO DIALTONE", "BUSY", "NO ANSWER")


class Reply:
    __slots__ = ("status", "lines", "cme")

    def __init__(self, status, lines, cme=None):
        self.status = status        # "OK", "ERROR", "CONNECT", "NO CARRIER", ..., "timeout"
        self.lines = lines          # information lines of this command
        self.cme = cme              # the +CME ERROR number, if the modem gave one

    def ok(self):
        return self.status == "OK"

    def value(self, prefix):
        """The text after "<prefix>: " of the first information line, or None."""
        p = prefix + ":"
        for l in self.lines:
            if l.startswith(p):
                return l[len(p):].strip()
        return None


class AtPort:
    def __init__(self, uart, ticks_ms):
        self.uart = uart
        self.ticks_ms = ticks_ms
        self._buf = bytearray()
        self.urcs = []
        self.cmd = None             # command text in flight
        self.prefix = None          # its information-line prefix ("+CSQ"), "" for bare lines
        self.lines = []
        self.deadline = 0
        self.paused = False         # data mode: the UART belongs to PPP
        self.timeouts = 0           # consecutive commands that got no answer at all
        self.junk = 0               # bytes dropped (over-long or undecodable lines)

    def busy(self):
        return self.cmd is not None

    def send(self, cmd, timeout_ms=2000, prefix=None):
        if prefix is None:
            i = cmd.find("=")
            j = cmd.find("?")
            end = min(x for x in (i, j, len(cmd)) if x > 0)
            prefix = cmd[2:end] if cmd.startswith("AT+") else ""
        self.cmd = cmd
        self.prefix = prefix
        self.lines = []
        self.deadline = ticks_add(self.ticks_ms(), timeout_ms)
        self.uart.write(cmd.encode() + b"\r")

    def write_raw(self, data):
        self.uart.write(data)

    def drain(self):
        """Read and sort whatever the modem sent; no command needed (URCs, data-mode exit)."""
        if self.paused:
            return
        n = self.uart.any()
        if not n:
            return
        d = self.uart.read(n)
        if not d:
            return
        for b in d:
            if b == 10 or b == 13:
                if self._buf:
                    self._line(self._buf)
                    self._buf = bytearray()
            elif len(self._buf) < MAX_LINE:
                self._buf.append(b)
            else:
                self.junk += 1

    def poll(self):
        """-> Reply once the command in flight is answered or timed out, else None."""
        self.drain()
        if self.cmd is None:
            return None
        if self._done is not None:
            r = self._done
            self._done = None
            self.cmd = None
            self.timeouts = 0
            return r
        if ticks_diff(self.ticks_ms(), self.deadline) >= 0:
            self.cmd = None
            self.timeouts += 1
            return Reply("timeout", self.lines)
        return None

    _done = None

    def _line(self, raw):
        try:
            line = bytes(raw).decode().strip()
        except UnicodeError:
            self.junk += len(raw)
            return
        if not line:
            return
        cmd = self.cmd
        if cmd is not None and self._done is None:
            if line == cmd:
                return                      # echo
            if line in FINAL or line.startswith("CONNECT"):
                st = "CONNECT" if line.startswith("CONNECT") else line
                if st == "NO CARRIER" and not cmd.startswith("ATD"):
                    self._urc(line)         # a data call ended: not this command's answer
                    return
                self._done = Reply(st, self.lines)
                return
            if line.startswith("+CME ERROR:") or line.startswith("+CMS ERROR:"):
                try:
                    cme = int(line[11:])
                except ValueError:
                    cme = None
                self._done = Reply("ERROR", self.lines, cme)
                return
            p = self.prefix
            if (p and line.startswith(p + ":")) or (
                    p == "" and line[0] != "+" and line not in ("RDY", "SMS Ready", "NORMAL POWER DOWN")):
                if len(self.lines) < MAX_LINES:
                    self.lines.append(line)
                else:
                    self.junk += len(line)
                return
        self._urc(line)

    def _urc(self, line):
        if len(self.urcs) >= MAX_URCS:
            self.urcs.pop(0)
        self.urcs.append(line)

    def take_urcs(self):
        u = self.urcs
        self.urcs = []
        return u
