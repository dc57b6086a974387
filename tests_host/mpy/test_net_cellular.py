# heap: 128k
# Cellular supervisor (firmware/net/cellular.py) against a fake SIMCom SIM7080G on a fake
# UART (tests_host/mpy/fakes/sim7080g.py), on virtual time. Every failure mode of the
# network bring-up, and that each one recovers by itself once its cause is gone: no SIM,
# SIM PIN (right, missing, wrong), registration denied, no registration before the deadline,
# signal lost, PPP dropped, a module that stops answering (power-cycled with PWRKEY), and
# the PSM wake for the water meter's sessions.
# Heap 128k: the fake modem compiles from source into it (floor 112k from the bundle).
import sys
HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import machine         # noqa: E402  (the fake)
import network         # noqa: E402  (the fake)
import mptest          # noqa: E402
from vtime import VirtualTime      # noqa: E402
from sim7080g import SIM7080G      # noqa: E402
from net.cellular import Cellular, BACKOFF_MAX_MS   # noqa: E402
from net.netconf import cellular as cell_conf      # noqa: E402

vt = VirtualTime()
network.set_clock(vt.ticks_ms)
PWRKEY, STATUS = 23, 34


def fresh(status=True, **conf):
    machine.reset_world()
    network.reset_world()
    m = SIM7080G(clock=vt.ticks_ms, pwrkey=PWRKEY, status=STATUS, boot_ms=2500, reg_ms=4000,
                 active_ms=10000)
    machine.attach(1, m)
    u = machine.UART(1, 115200, rxbuf=1024)
    key = machine.Signal(machine.Pin(PWRKEY, machine.Pin.OUT, value=0))
    st = machine.Signal(machine.Pin(STATUS, machine.Pin.IN)) if status else None
    o = {"apn": "iot.example", "rat": "nbiot"}
    o.update(conf)
    c = Cellular(network, u, key, cell_conf(o), vt.ticks_ms, status=st)
    return c, m


def run(c, ms, want=True, step=20):
    """Service every `step` ms; -> list of (t, state) transitions."""
    seen = []
    last = None
    for _ in range(ms // step):
        c.service(want)
        if c.state != last:
            last = c.state
            seen.append(c.state)
        vt.advance(step)
    return seen


def up_within(c, ms):
    run(c, ms)
    return c.up


def test_cold_start_powers_on_configures_registers_and_dials():
    c, m = fresh(psm=True, edrx="0101", bands=[3, 8, 20])
    mptest.true(up_within(c, 15000), c.state)
    mptest.eq(m.power_ons, 1)
    cmds = m.commands
    for want in ("ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CNMP=38", "AT+CMNB=2",
                 'AT+CBANDCFG="NB-IOT",3,8,20', 'AT+CGDCONT=1,"IP","iot.example"',
                 'AT+CPSMS=1,,,"00111000","00000101"', 'AT+CEDRXS=1,5,"0101"', "AT+CFUN=1",
                 "AT+CEREG?", "AT+CSQ", "AT+CCLK?", "ATD*99#"):
        mptest.true(want in cmds, "sent " + want)
    mptest.true(cmds.index("AT+CFUN=1") > cmds.index('AT+CGDCONT=1,"IP","iot.example"'),
                "APN set before the radio attaches")
    i = c.info()
    mptest.eq((i["iface"], i["reg"], i["csq"], i["rssi_dbm"], i["rat"]),
              ("cellular", "home", 20, -73, "nbiot"))
    t, src = c.take_time()
    mptest.eq(src, "cclk")
    import time
    mptest.true(abs(t - int(time.time())) <= 2, "the network time, in UTC")


def test_rat_choices():
    for rat, cmnb, act in (("catm", "1", "4"), ("lte", "3", "5")):
        c, m = fresh(rat=rat, edrx="0010")
        run(c, 15000)
        mptest.true("AT+CMNB=" + cmnb in m.commands, rat)
        mptest.true('AT+CEDRXS=1,%s,"0010"' % act in m.commands, rat)


def test_no_sim_recovers_after_it_is_inserted_and_the_module_cycled():
    c, m = fresh()
    m.sim = "absent"
    run(c, 20000)
    mptest.eq((c.up, c.reason), (False, "no_sim"))
    m.sim = "ready"
    mptest.true(up_within(c, 300000), "recovered: %s %s" % (c.state, c.reason))


def test_sim_pin_entered_once_when_configured():
    c, m = fresh(pin="1234")
    m.sim = "pin"
    mptest.true(up_within(c, 20000))
    mptest.eq([x for x in m.commands if x.startswith("AT+CPIN=")], ['AT+CPIN="1234"'])


def test_sim_pin_without_a_configured_pin_is_reported_never_guessed():
    c, m = fresh()
    m.sim = "pin"
    run(c, 120000)
    mptest.eq((c.up, c.reason), (False, "sim_pin"))
    mptest.eq([x for x in m.commands if x.startswith("AT+CPIN=")], [])


def test_wrong_pin_is_never_sent_twice():
    c, m = fresh(pin="9999")
    m.sim = "pin"
    run(c, 600000, step=100)
    mptest.eq(c.reason, "sim_pin_wrong")
    mptest.eq(len([x for x in m.commands if x.startswith("AT+CPIN=")]), 1)
    mptest.eq(m.pin_tries, 2, "the SIM is not locked by retries")


def test_registration_denied_then_accepted():
    c, m = fresh()
    m.reg = "denied"
    run(c, 15000)
    mptest.eq((c.up, c.reason), (False, "denied"))
    m.reg = "home"
    mptest.true(up_within(c, 120000))


def test_no_registration_before_the_deadline_then_roaming():
    c, m = fresh(reg_timeout_s=30)
    m.reg = "never"
    seen = run(c, 40000)
    mptest.eq((c.up, c.reason), (False, "no_registration"))
    mptest.true("register" in seen)
    m.reg = "roaming"
    mptest.true(up_within(c, 120000))
    mptest.eq(c.info()["reg"], "roaming")


def test_signal_lost_while_up_then_back():
    c, m = fresh(reg_timeout_s=60)
    mptest.true(up_within(c, 15000))
    m.lose_signal()
    run(c, 10000)
    mptest.eq((c.up, c.reason, c.drops), (False, "ppp_dropped", 1))
    mptest.eq(c.info()["reg"], "searching")
    m.regain_signal()
    mptest.true(up_within(c, 20000), c.state)
    mptest.eq(m.power_ons, 1, "no power cycle needed")


def test_signal_lost_beyond_the_deadline_recovers_later():
    c, m = fresh(reg_timeout_s=20)
    mptest.true(up_within(c, 15000))
    m.lose_signal()
    run(c, 60000)
    mptest.true(not c.up and c.reason in ("no_registration", "ppp_dropped"))
    m.regain_signal()
    mptest.true(up_within(c, BACKOFF_MAX_MS + 60000), c.state)


def test_ppp_dropped_by_the_network_redials():
    c, m = fresh()
    mptest.true(up_within(c, 15000))
    dials = m.commands.count("ATD*99#")
    m.drop_ppp()
    seen = run(c, 10000)
    mptest.true(c.up, c.state)
    mptest.eq(m.commands.count("ATD*99#"), dials + 1)
    mptest.true("hangup" in seen)


def test_modem_that_stops_answering_is_power_cycled():
    for status in (True, False):
        c, m = fresh(status=status)
        mptest.true(up_within(c, 15000))
        m.hang()
        run(c, 10000)
        mptest.true(not c.up)
        mptest.true(up_within(c, 120000), "status pin %s: %s %s" % (status, c.state, c.reason))
        mptest.eq(m.power_offs, 1, "status pin %s" % status)
        mptest.true(c.power_cycles >= 1)


def test_modem_silent_at_start_is_power_cycled():
    c, m = fresh()
    m.power_on()                    # on, but wedged before it ever answers
    m.hang()
    mptest.true(up_within(c, 120000), c.state)
    mptest.true(m.power_offs >= 1)


def test_psm_session_cycle_wakes_without_reattaching():
    c, m = fresh(psm=True)
    mptest.true(up_within(c, 15000))
    cfun = m.commands.count("AT+CFUN=1")
    run(c, 20000, want=False)
    mptest.eq((c.up, c.state), (False, "idle"))
    mptest.true(m.asleep, "the module went to PSM after its active time")
    mptest.true(up_within(c, 10000), c.state)
    mptest.eq(m.commands.count("AT+CFUN=1"), cfun, "woken by PWRKEY, still attached")
    mptest.eq(m.power_offs, 0)


def test_urcs_during_bring_up_do_not_confuse_replies():
    c, m = fresh()
    run(c, 5000)
    # unsolicited lines while the init script runs
    m._say(b"\r\n+CEREG: 2\r\n\r\nSMS Ready\r\n")
    mptest.true(up_within(c, 15000))


def test_config_rejects_bad_values():
    for bad in ({"rat": "gsm"}, {"pin": "12"}, {"pin": 1234}, {"apn": 'a"b'}, {"apn": "x" * 101},
                {"edrx": "012"}, {"edrx": "0102"}, {"bands": []}, {"bands": [0]}, {"bands": ["3"]},
                {"reg_timeout_s": 5}, {"psm": 1}, {"user": "a\nb"}, {"nope": 1}, [], None):
        mptest.raises(ValueError, cell_conf, bad)


mptest.main(globals())
