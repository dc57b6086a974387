# The commands of a SIMCom SIM7080G-class module for net/cellular.py: the init script (RAT,
# bands, APN, network time, PSM, eDRX, radio on) and the SIM check, as the
# SIM7070_SIM7080_SIM7090 Series AT Command Manual V1.04 and 3GPP TS 27.007 define them.
# Another module family needs a module like this one with its own commands.

CMNB = {"catm": 1, "nbiot": 2, "lte": 3}     # AT+CMNB: 1 CAT-M, 2 NB-IoT, 3 both
EDRX_ACT = {"catm": 4, "nbiot": 5, "lte": 5}  # TS 27.007 +CEDRXS AcT: 4 WB-S1, 5 NB-S1
# PSM timers (TS 24.008 10.5.7.4a / 10.5.7.3): periodic TAU 24 h (unit 1 h, 24), active
# time 10 s (unit 2 s, 5): the module sleeps 10 s after the last traffic
T3412 = "00111000"
T3324 = "00000101"


def script(c):
    """The init script for the supervisor c: [(command, timeout ms, check)], check(reply,
    now) -> None or a failure reason. Runs after every power-up, not after a PSM wake."""
    o = c.o
    s = [("ATE0", 1000, None), ("AT+CMEE=1", 1000, None),
         ("AT+CPIN?", 5000, lambda r, now: sim(c, r)),
         ("AT+CFUN=0", 10000, None),          # radio off while RAT and APN change
         ("AT+CNMP=38", 2000, None),          # LTE only (Cat-M / NB-IoT)
         ("AT+CMNB=%d" % CMNB[o["rat"]], 2000, None)]
    if o.get("bands"):
        b = ",".join(str(x) for x in o["bands"])
        if o["rat"] != "catm":
            s.append(('AT+CBANDCFG="NB-IOT",' + b, 2000, None))
        if o["rat"] != "nbiot":
            s.append(('AT+CBANDCFG="CAT-M",' + b, 2000, None))
    s.append(('AT+CGDCONT=1,"IP","%s"' % o["apn"], 2000, None))
    s.append(("AT+CLTS=1", 2000, None))                 # take the network's time (NITZ)
    s.append(('AT+CPSMS=1,,,"%s","%s"' % (T3412, T3324) if o.get("psm") else "AT+CPSMS=0",
              2000, None))
    e = o.get("edrx")
    s.append(('AT+CEDRXS=1,%d,"%s"' % (EDRX_ACT[o["rat"]], e) if e else "AT+CEDRXS=0",
              2000, None))
    s.append(("AT+CFUN=1", 10000, None))
    s.append(("AT+CEREG=2", 2000, None))
    return s


def sim(c, r):
    """+CPIN? -> None (ready, or the PIN queued next) or why the SIM cannot be used."""
    v = r.value("+CPIN")
    if r.ok() and v == "READY":
        return None
    if r.ok() and v == "SIM PIN":
        if c.o.get("pin") is None:
            return "sim_pin"
        if c.pin_blocked:
            return "sim_pin_wrong"
        c.insert_next([('AT+CPIN="%s"' % c.o["pin"], 5000, lambda r, now: pin(c, r)),
                       ("AT+CPIN?", 5000, lambda r, now: sim(c, r))])
        return None
    if r.ok() and v == "SIM PUK":
        return "sim_puk"
    if r.cme == 10:
        return "no_sim"             # TS 27.007 +CME ERROR 10: SIM not inserted
    if r.cme == 14:
        return "sim_busy"
    return "sim_error"


def pin(c, r):
    """After AT+CPIN=<pin>: a refusal blocks the PIN until the next boot (three wrong tries
    lock the SIM, 3GPP TS 31.102)."""
    if r.ok():
        return None
    c.pin_blocked = True
    return "sim_pin_wrong"
