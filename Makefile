# Prepaid meter firmware: host build, tests and tools.
# A fresh clone needs only python3 and make: the first target that needs the
# virtual environment creates it from requirements-dev.txt.

PYTHON      ?= python3
VENV        := .venv
VPY         := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
MICROPYTHON ?= $(abspath $(VENV)/bin/micropython)
export MICROPYTHON
MPYPATH     := $(abspath firmware):$(abspath lib):$(abspath boards/sim)
FLASH       ?= out/meter
BOARD       ?= sim
PYTEST_ARGS ?=

.PHONY: help venv lib sysdeps native test test-fast bench meter sim fleet firmware flash deploy provision clean

help:
	@echo "make sim          the main job: a simulated household end to end (see README)"
	@echo "make test         every host test (MicroPython unix port + CPython tools)"
	@echo "make bench        benchmark figures"
	@echo "make meter FLASH=<dir>   run one simulated meter from <dir>/config.json"
	@echo "make native       32-bit and 64-bit MicroPython with the firmware frozen (MPY_SRC)"

$(STAMP): requirements-dev.txt
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

lib/umqtt/simple.py: $(STAMP) tools/install_mpylib.sh
	PIP=$(VENV)/bin/pip tools/install_mpylib.sh lib

lib: lib/umqtt/simple.py

# Debian packages some tests need (mosquitto, socat). Installs them when run as root,
# otherwise says what is missing; the tests that need them then skip with that reason.
sysdeps:
	@tools/sysdeps.sh

# MicroPython built from source with the firmware frozen (tools/build_native.py):
# build/native/micropython32 (the heap an ESP32 would see) and build/native/micropython
# (the fleet's lean meter). MPY_SRC: a MicroPython checkout or a folder with its tarball.
MPY_SRC ?= $(abspath ../shared/micropython)
export MPY_SRC
native: venv lib
	$(VPY) tools/build_native.py

test: venv lib sysdeps
	@$(VPY) tools/build_native.py --refresh
	$(VENV)/bin/pytest tests_host -n 2 -q $(PYTEST_ARGS)

test-fast: venv lib
	$(VENV)/bin/pytest tests_host -n 2 -q -m "not slow" $(PYTEST_ARGS)

bench: venv lib sysdeps
	@$(VPY) tools/build_native.py --refresh
	$(VPY) tools/bench.py

meter: venv lib
	@test -n "$(FLASH)" || { echo "make meter: set FLASH=<dir holding config.json>" >&2; exit 2; }
	MICROPYPATH=$(MPYPATH) $(MICROPYTHON) -X heapsize=$${HEAP:-320k} firmware/main.py $(FLASH)

# The main job: a household of three meters end to end (tools/scenarios/README.md).
# SCENARIO=building for the building-level anomaly location, BROKER=mqtt://... for an
# external broker, SIM_SPEED=... to override the scenario's speed.
SCENARIO ?= household
sim: venv lib sysdeps
	@$(VPY) tools/build_firmware.py --board sim >/dev/null
	$(VPY) tools/sim.py --scenario $(SCENARIO)

# Fleet load test: N meters against mosquitto (or amqtt), on the native build when `make
# native` made one; FLEET_ARGS=--search finds the largest N with p99 < 1 s (e.g.
# "--search --start-n 1000 --max-n 10000"), FLEET_ARGS=--cluster uses a two-node RabbitMQ cluster.
N ?= 50
fleet: venv lib sysdeps
	@$(VPY) tools/build_firmware.py --board sim >/dev/null
	@$(VPY) tools/build_native.py --refresh
	$(VPY) tools/fleet.py -n $(N) $(FLEET_ARGS)

clean:
	rm -rf out build .pytest_cache

# Field service (docs/field-guide.md): bundle, flash MicroPython, deploy the bundle, provision.
ROMFS       ?=
firmware: venv lib
	@test "$(BOARD)" != "" || { echo "make firmware: set BOARD=<board> (ls boards/)" >&2; exit 2; }
	$(VPY) tools/build_firmware.py --board $(BOARD) $(if $(ROMFS),--romfs)

flash: venv
	$(VPY) tools/flash.py --port "$(PORT)" --firmware "$(FIRMWARE)"

deploy: firmware
	$(VPY) tools/deploy.py --board $(BOARD) --port "$(PORT)" $(if $(ROMFS),--romfs)

provision: venv
	$(VPY) tools/provision_device.py --port "$(PORT)" --id "$(ID)"
