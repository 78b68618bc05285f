# Sourced by the scripts that start the service: free ports, waiting for readiness, stopping.
# Needs $PYTHON (any Python 3).

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ready URL PID LOG: until URL answers 2xx; fails (showing LOG) if PID exits first.
wait_ready() {
    for _ in $(seq 150); do
        curl -sf "$1" >/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { cat "$3" >&2; return 1; }
        sleep 0.2
    done
    echo "$1 did not answer in 30 s" >&2; cat "$3" >&2; return 1
}

# stop_processes PID...: TERM each, then reap it.
stop_processes() {
    for pid in "$@"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
