# The gas meter: `Driver` (driver.py) and the parts only this kind uses. The app loads a
# kind by `__import__("meters.<kind>").Driver` (docs/architecture.md, driver contract).
# Driver is resolved on first use (module __getattr__, PEP 562, enabled on every
# MicroPython port with core features) so that a unit test of one detector imports that
# detector alone and not the whole driver.


def __getattr__(name):
    if name == "Driver":
        from meters.gas.driver import Driver
        return Driver
    raise AttributeError(name)
