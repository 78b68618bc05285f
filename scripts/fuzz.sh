#!/usr/bin/env bash
# The outside fuzzer: starts a real server (SQLite in a temporary directory), registers a user
# and runs Schemathesis against the server's live /openapi.json, authenticated, over every
# operation. Fails on any 5xx, any response that does not match its documented schema, status
# code or content type. Settings: FUZZ_MAX_EXAMPLES (per operation and phase, default 100),
# FUZZ_SEED (reproduce a run; each run prints its seed), FUZZ_MAX_TIME (seconds: keep fuzzing
# until spent, for long runs; unset, each phase runs once), FUZZ_DATABASE (sqlite, the default,
# or postgres: a throwaway database on TEST_POSTGRES_URL's server, dropped afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
PYTHON=$BIN/python
. scripts/processes.sh
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-100}
CHECKS=${FUZZ_CHECKS:-not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,malformed_precondition_never_matches}
# If-Match / If-None-Match become malformed tags of the path's collection, checked never to match.
export SCHEMATHESIS_HOOKS=scripts/schemathesis_hooks.py

workdir=$(mktemp -d)
port=$(free_port)
# The stand-in catalogue, healthy: "no 5xx" is checked, and the 502/504 of a failing upstream
# (documented, and tested in tests/) would count as findings.
upstream_port=$(free_port)
base="http://127.0.0.1:$port"

POSTGRES_ADMIN_URL=${TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
fuzz_database=""
server_pid=""
upstream_pid=""
cleanup() {
    stop_processes $server_pid $upstream_pid
    if [ -n "$fuzz_database" ]; then
        postgres_admin "DROP DATABASE IF EXISTS \"$fuzz_database\" WITH (FORCE)" || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT
postgres_admin() { # $1: SQL statement
    "$BIN/python" - "$POSTGRES_ADMIN_URL" "$1" <<'PY'
import asyncio, sys, asyncpg
async def main() -> None:
    connection = await asyncpg.connect(sys.argv[1])
    try:
        await connection.execute(sys.argv[2])
    finally:
        await connection.close()
asyncio.run(main())
PY
}
case "${FUZZ_DATABASE:-sqlite}" in
sqlite) export DATABASE_URL="sqlite:///$workdir/fuzz.db" ;;
postgres)
    fuzz_database="mc_fuzz_$("$BIN/python" -c 'import secrets; print(secrets.token_hex(6))')"
    postgres_admin "CREATE DATABASE \"$fuzz_database\""
    export DATABASE_URL="${POSTGRES_ADMIN_URL%/*}/$fuzz_database"
    ;;
*) echo "FUZZ_DATABASE must be sqlite or postgres" >&2; exit 2 ;;
esac
export DATA_DIR="$workdir"
export SECRET_KEY
SECRET_KEY=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(48))')
export MOVIES_API_URL="http://127.0.0.1:$upstream_port/api/v1/maya/movies/"
export MOVIES_API_USERNAME=fuzz MOVIES_API_PASSWORD=fuzz-password
export LOG_LEVEL=WARNING
# Cheap hashing and a high per-address limit let the fuzzer explore login/register in depth;
# the per-username limit stays at its default, so 429s are still met (and must be documented).
export PASSWORD_HASH_TIME_COST=1 PASSWORD_HASH_MEMORY_KIB=1024 PASSWORD_HASH_PARALLELISM=1
export AUTH_RATE_LIMIT_PER_ADDRESS=100000
unset REDIS_URL PREVIOUS_SECRET_KEYS

"$BIN/movie-collections" mock-upstream --port "$upstream_port" --username fuzz \
    --password fuzz-password >"$workdir/upstream.log" 2>&1 &
upstream_pid=$!
"$BIN/movie-collections" serve --migrate --host 127.0.0.1 --port "$port" --workers 1 \
    >"$workdir/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 100); do
    if "$BIN/python" -c "import httpx, sys; httpx.get('$base/openapi.json', timeout=1)" 2>/dev/null; then
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$workdir/server.log" >&2; exit 1; }
    sleep 0.2
done

access_token() {
    "$BIN/python" - "$base" "$1" <<'PY'
import sys, secrets, httpx
base, name = sys.argv[1], sys.argv[2]
response = httpx.post(f"{base}/register/", json={"username": name, "password": secrets.token_urlsafe(16)})
response.raise_for_status()
print(response.json()["access_token"])
PY
}

run_schemathesis() {
    local token=$1 phases=$2
    shift 2
    "$BIN/python" scripts/schemathesis_cli.py run "$base/openapi.json" \
        --header "Authorization: Bearer $token" \
        --checks "$CHECKS" \
        --phases "$phases" \
        --max-examples "$MAX_EXAMPLES" \
        ${FUZZ_MAX_TIME:+--max-time "$FUZZ_MAX_TIME"} \
        --workers 2 \
        --request-timeout 30 \
        ${FUZZ_SEED:+--seed "$FUZZ_SEED"} \
        "$@"
}

status=0
# Every operation but DELETE /me/, which would delete the fuzzing user half-way through...
run_schemathesis "$(access_token fuzzer)" examples,coverage,fuzzing,stateful \
    --exclude-name "DELETE /me/" || status=$?
# ...and then DELETE /me/ on its own, with a user of its own (no links lead from it).
run_schemathesis "$(access_token fuzzer_deleted)" examples,coverage,fuzzing \
    --include-name "DELETE /me/" || status=$?

if grep -q "Traceback" "$workdir/server.log"; then
    echo "the server logged a traceback during fuzzing:" >&2
    cat "$workdir/server.log" >&2
    status=1
fi
exit "$status"
