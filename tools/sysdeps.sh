#!/usr/bin/env bash
# Debian packages used by some tests: mosquitto (broker), socat (pseudo-terminal for mpremote),
# gcc-multilib (gcc -m32 for `make native`'s 32-bit MicroPython; it brings gcc).
set -u
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients)
command -v socat >/dev/null 2>&1 || need+=(socat)
# the fleet test's two-node cluster (tests skip without it)
[ -x /usr/sbin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1 || need+=(rabbitmq-server)
# `make native`: the 32-bit MicroPython needs gcc -m32 (tests skip without that build)
if command -v dpkg >/dev/null 2>&1; then dpkg -s gcc-multilib >/dev/null 2>&1 || need+=(gcc-multilib); fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "sysdeps: installing ${need[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "sysdeps: missing ${need[*]} (not root): tests needing them will skip" >&2
fi
exit 0
