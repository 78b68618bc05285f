#!/usr/bin/env bash
# The OpenAPI contract proven by a real client: starts the service (SQLite in a temporary
# directory, the stand-in catalogue beside it), generates a typed Python client from its live
# /openapi.json with openapi-python-client (in .venv-tools, never the project's venv; any
# generator warning fails), and runs scripts/client_journey.py with it. Nothing generated is
# kept.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
PYTHON=$BIN/python
. scripts/processes.sh
TOOLS=$(scripts/tools_venv.sh)

workdir=$(mktemp -d)
server_pid=""
upstream_pid=""
cleanup() {
    stop_processes $server_pid $upstream_pid
    rm -rf "$workdir"
}
trap cleanup EXIT
port=$(free_port)
upstream_port=$(free_port)
base="http://127.0.0.1:$port"

export DATABASE_URL="sqlite:///$workdir/journey.db" DATA_DIR="$workdir"
export MOVIES_API_URL="http://127.0.0.1:$upstream_port/api/v1/maya/movies/"
export MOVIES_API_USERNAME=journey MOVIES_API_PASSWORD=journey-password
unset REDIS_URL SECRET_KEY PREVIOUS_SECRET_KEYS CORS_ORIGINS
"$BIN/movie-collections" mock-upstream --port "$upstream_port" --username journey \
    --password journey-password >"$workdir/upstream.log" 2>&1 &
upstream_pid=$!
"$BIN/movie-collections" serve --port "$port" >"$workdir/server.log" 2>&1 &
server_pid=$!
wait_ready "$base/health/ready" "$server_pid" "$workdir/server.log"

curl -sf "$base/openapi.json" -o "$workdir/openapi.json"
# ruff (a dependency of the generator) formats the generated code: it must be on PATH.
(cd "$workdir" && PATH="$TOOLS:$PATH" "$TOOLS/openapi-python-client" generate \
    --path openapi.json --meta none) 2>&1 | tee "$workdir/generate.log"
if grep -qiE "warning|error" "$workdir/generate.log"; then
    echo "openapi-python-client was not happy with /openapi.json" >&2
    exit 1
fi
PYTHONPATH="$workdir" "$TOOLS/python" scripts/client_journey.py "$base"
if grep -q "Traceback" "$workdir/server.log"; then
    echo "the server logged a traceback during the journey:" >&2
    cat "$workdir/server.log" >&2
    exit 1
fi
