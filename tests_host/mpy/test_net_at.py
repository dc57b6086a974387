# The AT channel (firmware/net/at.py): echo dropped, replies collected to their final
# result code, +CME ERROR numbers, unsolicited result codes kept apart even when they land
# in the middle of a reply, timeouts, and bounded memory on garbage. Generated interleavings
# of URCs and reply lines must always sort the same way.
import sys
HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import random          # noqa: E402
import machine         # noqa: E402  (the fake)
import mptest          # noqa: E402
from vtime import VirtualTime      # noqa: E402
from net.at import AtPort, MAX_LINE, MAX_URCS      # noqa: E402

vt = VirtualTime()


class Script:
    """A UART peer that answers each command line with canned bytes."""

    def __init__(self):
        self.answers = {}
        self.got = []

    def rx(self, data, uart):
        self.got.append(data)
        a = self.answers.get(data.rstrip(b"\r"))
        if a is not None:
            uart.feed(a)

    def poll(self, uart):
        pass


def port():
    machine.reset_world()
    s = Script()
    machine.attach(1, s)
    u = machine.UART(1, 115200, rxbuf=4096)
    return AtPort(u, vt.ticks_ms), s, u


def wait(at, ms=3000):
    for _ in range(ms // 10):
        r = at.poll()
        if r is not None:
            return r
        vt.advance(10)
    return None


def test_reply_with_echo_info_and_ok():
    at, s, u = port()
    s.answers[b"AT+CSQ"] = b"AT+CSQ\r\r\n+CSQ: 17,99\r\n\r\nOK\r\n"
    at.send("AT+CSQ")
    r = wait(at)
    mptest.eq((r.status, r.lines, r.value("+CSQ")), ("OK", ["+CSQ: 17,99"], "17,99"))
    mptest.eq(at.urcs, [])


def test_cme_error_number_and_plain_error():
    at, s, u = port()
    s.answers[b"AT+CPIN?"] = b"\r\n+CME ERROR: 10\r\n"
    at.send("AT+CPIN?")
    r = wait(at)
    mptest.eq((r.status, r.cme), ("ERROR", 10))
    s.answers[b"AT+X"] = b"\r\nERROR\r\n"
    at.send("AT+X")
    mptest.eq((wait(at).status, at.timeouts), ("ERROR", 0))


def test_urcs_inside_a_reply_are_kept_apart():
    at, s, u = port()
    s.answers[b"AT+CEREG?"] = (b"\r\n+CPIN: READY\r\n\r\n+CEREG: 2,1,\"1A\",\"01\",9\r\n"
                               b"\r\nSMS Ready\r\n\r\nOK\r\n")
    at.send("AT+CEREG?")
    r = wait(at)
    mptest.eq(r.lines, ['+CEREG: 2,1,"1A","01",9'])
    mptest.eq(at.take_urcs(), ["+CPIN: READY", "SMS Ready"])


def test_bare_line_replies_and_connect():
    at, s, u = port()
    s.answers[b"AT+CGSN"] = b"\r\n869951030000017\r\n\r\nRDY\r\n\r\nOK\r\n"
    at.send("AT+CGSN", prefix="")            # a reply without a "+CGSN:" prefix
    r = wait(at)
    mptest.eq((r.lines, at.take_urcs()), (["869951030000017"], ["RDY"]))
    s.answers[b"ATD*99#"] = b"\r\nCONNECT 150000000\r\n"
    at.send("ATD*99#", 5000)
    mptest.eq(wait(at).status, "CONNECT")


def test_no_carrier_is_an_urc_unless_dialling():
    at, s, u = port()
    s.answers[b"AT"] = b"\r\nNO CARRIER\r\n\r\nOK\r\n"
    at.send("AT")
    mptest.eq(wait(at).status, "OK")
    mptest.eq(at.take_urcs(), ["NO CARRIER"])
    s.answers[b"ATD*99#"] = b"\r\nNO CARRIER\r\n"
    at.send("ATD*99#")
    mptest.eq(wait(at).status, "NO CARRIER")


def test_timeout_counts_and_late_answer_is_not_misread():
    at, s, u = port()
    at.send("AT+CSQ", 500)
    r = wait(at, 1000)
    mptest.eq((r.status, at.timeouts), ("timeout", 1))
    u.feed(b"\r\n+CSQ: 5,99\r\n\r\nOK\r\n")        # the late answer
    s.answers[b"AT"] = b"\r\nOK\r\n"
    at.drain()
    at.send("AT")
    r = wait(at)
    mptest.eq((r.status, r.lines, at.timeouts), ("OK", [], 0))


def test_paused_port_reads_nothing():
    at, s, u = port()
    at.paused = True
    u.feed(b"\x7e\xff\x7d\x23PPP frame\r\n")
    at.drain()
    mptest.eq(u.any(), 15, "left for PPP")


def test_garbage_is_bounded():
    at, s, u = port()
    u.feed(bytes(range(256)) * 3 + b"x" * (MAX_LINE * 3) + b"\r\n")
    for i in range(MAX_URCS * 3):
        u.feed(b"\r\n+URC: %d\r\n" % i)
    at.drain()
    mptest.true(len(at._buf) <= MAX_LINE)
    mptest.true(len(at.urcs) <= MAX_URCS)
    mptest.eq(at.urcs[-1], "+URC: %d" % (MAX_URCS * 3 - 1))


def test_generated_interleavings_sort_the_same():
    random.seed(27)
    urc_pool = ["+CEREG: 1", "+CEREG: 2", "RDY", "+CPIN: READY", "NO CARRIER", "SMS Ready",
                "+CTZV: 32", "NORMAL POWER DOWN"]
    for trial in range(150):
        at, s, u = port()
        info = ["+CSQ: %d,99" % random.getrandbits(5) for _ in range(random.getrandbits(2))]
        urcs = [random.choice(urc_pool) for _ in range(random.getrandbits(3))]
        lines = ["AT+CSQ"] + info
        for x in urcs:                          # URCs anywhere, even before the echo
            lines.insert(random.randint(0, len(lines)), x)
        wire = b""
        for l in lines:
            wire += (l.encode() + b"\r") if l == "AT+CSQ" else (b"\r\n" + l.encode() + b"\r\n")
        wire += b"\r\nOK\r\n"
        at.send("AT+CSQ")
        # the bytes arrive in random chunks
        while wire:
            k = random.randint(1, 12)
            u.feed(wire[:k])
            wire = wire[k:]
            at.drain()
        r = wait(at)
        mptest.eq(r.lines, info, "trial %d" % trial)
        want = [l for l in lines if l in urc_pool]
        mptest.eq(at.take_urcs(), want[-MAX_URCS:], "trial %d" % trial)


mptest.main(globals())
