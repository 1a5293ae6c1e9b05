#!/usr/bin/env bash
# Create or refresh .venv from a requirements file; re-installs only when the file changed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
req=${1:-requirements.txt}
cd "$repo"
stamp=.venv/.installed-$(basename "$req")
digest=$(cat requirements*.txt | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then exit 0; fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r "$req"
echo "$digest" >"$stamp"
