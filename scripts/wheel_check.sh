#!/usr/bin/env bash
# The package as users get it: builds the wheel with `python -m build` (in .venv-tools), checks
# it holds every file of src/movie_collections (the web client, the migrations), installs it in
# a fresh venv (pinned by constraints.txt, no extra) and serves from it outside the checkout:
# migrations applied, the web client and the API answering.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=python3
. scripts/processes.sh
TOOLS=$(scripts/tools_venv.sh)
workdir=$(mktemp -d)
server_pid=""
cleanup() {
    stop_processes $server_pid
    rm -rf "$workdir"
}
trap cleanup EXIT

"$TOOLS/python" -m build --wheel --outdir "$workdir/dist" . >"$workdir/build.log" 2>&1 \
    || { cat "$workdir/build.log" >&2; exit 1; }
wheel=$(ls "$workdir"/dist/movie_collections-*.whl)
echo "built $(basename "$wheel")"

"$TOOLS/python" - "$wheel" <<'PY'
import sys, zipfile
from pathlib import Path
source = Path("src/movie_collections")
expected = {
    f"movie_collections/{path.relative_to(source).as_posix()}"
    for path in source.rglob("*")
    if path.is_file() and "__pycache__" not in path.parts
}
missing = sorted(expected - set(zipfile.ZipFile(sys.argv[1]).namelist()))
if missing:
    sys.exit(f"the wheel lacks {len(missing)} files of the package: {missing}")
print(f"the wheel holds all {len(expected)} files of the package")
PY

python3 -m venv "$workdir/venv"
"$workdir/venv/bin/python" -m pip install --quiet --upgrade pip
"$workdir/venv/bin/python" -m pip install --quiet -c constraints.txt "$wheel"
bin="$workdir/venv/bin"

version=$("$bin/movie-collections" --version)
expected_version="movie-collections $("$TOOLS/python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
[ "$version" = "$expected_version" ] || { echo "--version says '$version', not '$expected_version'" >&2; exit 1; }
echo "$version"

port=$(free_port)
base="http://127.0.0.1:$port"
# Outside the checkout, so nothing can come from src/.
# exec: $! is the server itself, which the clean-up stops (a subshell's would leave it running).
(cd "$workdir" && exec env -u SECRET_KEY -u REDIS_URL DATABASE_URL="sqlite:///$workdir/wheel.db" \
    "$bin/movie-collections" serve --port "$port" >"$workdir/server.log" 2>&1) &
server_pid=$!
wait_ready "$base/health/ready" "$server_pid" "$workdir/server.log"
curl -sf "$base/health/ready"; echo
curl -sf "$base/" | grep -q "<html" || { echo "the web client is not served" >&2; exit 1; }
curl -sf "$base/static/app.js" >/dev/null || { echo "the web client's script is not served" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/register/" \
    -H 'content-type: application/json' -d '{"username": "wheel", "password": "s3cret-passw0rd"}')
[ "$status" = 201 ] || { echo "POST /register/ answered $status" >&2; cat "$workdir/server.log" >&2; exit 1; }
echo "the installed wheel serves: migrations applied, web client and API answering"
stop_processes "$server_pid"
server_pid=""
if curl -s -o /dev/null "$base/health/live"; then
    echo "the server still answers after it was stopped (left running by CI)" >&2
    exit 1
fi
echo "stopped"
