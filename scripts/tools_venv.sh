#!/usr/bin/env bash
# Creates (or reuses) .venv-tools with scripts/tools-requirements.txt: openapi-python-client and
# build, which CI uses but the service and its tests never import. Prints the venv's bin folder.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TOOLS_VENV:-.venv-tools}
stamp="$venv/.installed"
if [ ! -f "$stamp" ] || [ scripts/tools-requirements.txt -nt "$stamp" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet -r scripts/tools-requirements.txt >&2
    touch "$stamp"
fi
echo "$PWD/$venv/bin"
