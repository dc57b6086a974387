# An ESP32 board emulated on the unix port (tests_host/test_board_boot.py): the fakes of
# machine, network, esp32 and ntptime (tests_host/mpy/fakes) stand for the chip and the
# parts around it (fakes/esp32_world.py), and the bundle runs as a board runs it: boot.py
# first (watchdog, reset cause, boot mode), then main.py as __main__ from the flash root.
#   cd <flash dir: bundle + config.json + emu.json>
#   MICROPYPATH=<tests_host/mpy/fakes>:<flash dir>:<flash dir>/lib micropython esp32_emu.py
import sys
import json
import machine

try:
    with open("emu.json") as f:
        world = json.load(f)
except OSError:
    world = {}
machine.reset_world(world.get("cause", machine.PWRON_RESET))
import esp32_world      # noqa: E402
esp32_world.World(world)

with open("boot.py") as f:
    exec(f.read(), {"__name__": "boot"})
sys.argv[:] = ["main.py", "."]
with open("main.py") as f:
    exec(f.read(), {"__name__": "__main__"})
