#!/usr/bin/env bash
# Install the micropython-lib packages the firmware uses into lib/.
# Their PyPI sdists have no setup.py, so `pip install` refuses them; `pip download --no-clean`
# with a private TMPDIR leaves the unpacked sources behind, and we copy the module out.
set -euo pipefail
PIP=${PIP:-.venv/bin/pip}
DEST=${1:-lib}
fetch() {  # fetch <pypi-name==version> <path inside the sdist> <dest path>
  local spec=$1 src=$2 dst=$3 tmp
  tmp=$(mktemp -d)
  TMPDIR=$tmp "$PIP" download -q --no-deps --no-clean -d "$tmp/dl" "$spec" >/dev/null 2>&1 || true
  local found
  found=$(find "$tmp" -path "*/$src" | head -n 1)
  if [ -z "$found" ]; then echo "install_mpylib: could not fetch $spec ($src)" >&2; rm -rf "$tmp"; exit 1; fi
  mkdir -p "$(dirname "$DEST/$dst")"
  cp "$found" "$DEST/$dst"
  rm -rf "$tmp"
  echo "lib: $spec -> $DEST/$dst"
}
fetch micropython-umqtt.simple==1.3.4 umqtt/simple.py umqtt/simple.py
