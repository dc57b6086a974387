"""The heap a whole simulated meter runs at on the PyPI MicroPython unix port: firmware/main.py
(or an App built in a test rig) importing the compiled .mpy bundle of the sim board. On that
port the modules' bytecode sits in the heap (on an ESP32 it is frozen in flash or runs in
place from ROMFS; build/native/micropython32 shows that heap). One figure for the tests
(tests_host/conftest.py), `make meter`, tools/sim.py and tools/fleet.py's PyPI meters.

Floor + margin (tools/heap_margins.py, from a long CI-like clone path): the App-building test
scripts pass from 276k (app_boot_rig), 281k (test_app_hardening), 286k (test_app_console);
main.py against a broker from 261k (test_app_idle) and 278k on TLS (test_link_tls); 304k is
>= 16 KiB above the highest, rounded to 16k. After the hardening, boards, OTA and restructuring merges (2026-12-02, same long path):
main.py under test_link_hostile passes from 324k, the highest floor: 352k is >= 16 KiB above
it, rounded to 16k.
APP_HEAP=... overrides it."""
import os

APP_HEAP = os.environ.get("APP_HEAP", "352k")
