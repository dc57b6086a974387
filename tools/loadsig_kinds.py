# Per-appliance figures of tools/loadsig.py (see its header for the sources): split out so
# that each module compiles with a smaller peak on the 64 KiB unix-port heap. The order of
# the u() draws is part of every (name, seed) curve: do not reorder.


def shape(a, name, u):
    # power, power factor, cycle, run time, inrush and ramp of appliance a
    if name == "heater":
        a.p, a.pf, a.cycle = u(1000, 2000), 1.0, (120000, 60000)
        a.inrush = (1.04, 1.0, 2000)
    elif name == "kettle":
        a.p, a.pf, a.run_ms = u(1800, 2200), 1.0, 150000
        a.inrush = (1.03, 1.0, 1500)
    elif name == "hot_plate":
        a.p, a.pf, a.cycle = u(800, 1500), 1.0, (40000, 20000)
        a.inrush = (1.04, 1.0, 2000)
    elif name == "rice_cooker":
        a.p, a.pf, a.run_ms = u(400, 700), 1.0, 600000
        a.after = (u(40, 60), 1.0)
        a.inrush = (1.03, 1.0, 1500)
    elif name == "fridge":
        a.p, a.pf, a.cycle = u(90, 150), u(0.60, 0.70), (480000, 720000)
        a.inrush = (u(5, 7), 0.35, 400)
    elif name == "laptop":
        a.p, a.pf = u(45, 90), u(0.50, 0.60)
    elif name == "phone_charger":
        a.p, a.pf = u(5, 18), u(0.45, 0.55)
    elif name == "led":
        a.p, a.pf = u(5, 40), u(0.50, 0.90)
    elif name == "tv":
        a.p, a.pf = u(60, 150), u(0.60, 0.90)
    elif name == "fan":
        a.p, a.pf = u(30, 60), u(0.80, 0.90)
        a.inrush = (2.0, 0.5, 500)
    elif name == "inverter_ac":
        a.p, a.pf = u(900, 1500), 0.97
        a.ramp = (150.0, int(u(60000, 120000)))
    elif name == "microwave":
        a.p, a.pf, a.cycle = u(1000, 1500), u(0.85, 0.90), (15000, 7000)
        a.inrush = (1.5, 0.6, 250)
