#!/usr/bin/env bash
# The container image and the Kubernetes manifests, run on this host (docs/deployment.md):
# builds the local Debian base (scripts/container_base.sh, when missing) and the image from
# the Containerfile, renders deploy/kubernetes/ for `podman kube play` (scripts/kube_local.py),
# runs the migration Job's pod against a database of its own on this host's PostgreSQL, starts
# the two API replicas against it and this host's Redis (a key prefix of their own), with the
# stand-in catalogue from the same image, checks the image's HEALTHCHECK, then runs a journey
# through both replicas with an exact request count (scripts/container_journey.py). Everything
# it made is removed at the end, whatever happened. Needs root (podman, apt-get).
# Settings: IMAGE (default localhost/movie-collections:check), BASE_IMAGE, KEEP_IMAGE=0 to
# remove the image too, TEST_POSTGRES_URL, TEST_REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
export CONTAINERS_CONF=$PWD/deploy/containers.conf
IMAGE=${IMAGE:-localhost/movie-collections:check}
BASE_IMAGE=${BASE_IMAGE:-localhost/movie-collections-base:bookworm}
POSTGRES_ADMIN_URL=${TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
SECRET_NAME=movie-collections # the Secret the manifests name

step() { echo "== $* ($(($(date +%s) - started)) s)"; }
play() { # $1: a rendered kube file; podman's output only when it fails
    podman kube play "$1" >"$1.log" 2>&1 || { grep -v systemd "$1.log" >&2; return 1; }
}
# The pods and the secret have the manifests' fixed names: one run at a time on a machine.
exec 9>/tmp/movie-collections-container-check.lock
flock 9
started=$(date +%s)

missing=""
for tool in podman runc mmdebstrap; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
    step "installing podman, runc, mmdebstrap from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        podman runc mmdebstrap >/dev/null
fi

run_id=$("$BIN/python" -c 'import secrets; print(secrets.token_hex(4))')
database="mc_kube_$run_id"
key_prefix="mc-kube-$run_id:"
workdir=$(mktemp -d)
upstream="mc-check-upstream-$run_id"
free_port() {
    "$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_1=$(free_port) port_2=$(free_port) upstream_port=$(free_port)

cleanup() {
    status=$?
    set +e
    if [ "$status" -ne 0 ]; then
        for container in movie-collections-migrate-migrate movie-collections-api-1-api \
            movie-collections-api-2-api "$upstream"; do
            echo "--- logs of $container" >&2
            podman logs --tail 40 "$container" 2>&1 | grep -v systemd >&2
        done
    fi
    for file in "$workdir/api.yaml" "$workdir/migrate.yaml"; do
        [ -f "$file" ] && podman kube down "$file" >/dev/null 2>&1
    done
    podman rm --force --ignore "$upstream" >/dev/null 2>&1
    podman volume rm --force movie-collections-api-1-tmp movie-collections-api-2-tmp >/dev/null 2>&1
    podman secret rm "$SECRET_NAME" >/dev/null 2>&1
    psql "$POSTGRES_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" 2>/dev/null
    redis-cli -u "$REDIS_URL" --scan --pattern "$key_prefix*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null
    [ "${KEEP_IMAGE:-1}" = 0 ] && podman rmi --force "$IMAGE" >/dev/null 2>&1
    rm -rf "$workdir"
    exit "$status"
}
trap cleanup EXIT

step "base image $BASE_IMAGE"
BASE_IMAGE=$BASE_IMAGE scripts/container_base.sh >/dev/null
step "building $IMAGE"
# The builder trusts this machine's CA bundle while it installs from PyPI (mounted for the
# build only; the image keeps its own).
podman build --quiet --format docker --network host \
    --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --tag "$IMAGE" --file Containerfile . >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "image $IMAGE: $((size / 1000000)) MB"

step "rendering deploy/kubernetes for this host"
psql "$POSTGRES_ADMIN_URL" -qc "CREATE DATABASE \"$database\""
"$BIN/python" scripts/kube_local.py --image "$IMAGE" --ports "$port_1,$port_2" --out "$workdir" \
    --set REDIS_URL="$REDIS_URL" --set REDIS_KEY_PREFIX="$key_prefix" \
    --set MOVIES_API_URL="http://127.0.0.1:$upstream_port/api/v1/maya/movies/" \
    --set MOVIES_API_USERNAME=kube --set FORWARDED_ALLOW_IPS=127.0.0.1 --set ALLOWED_HOSTS=127.0.0.1 \
    --secret DATABASE_URL="${POSTGRES_ADMIN_URL%/*}/$database" \
    --secret SECRET_KEY="$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    --secret MOVIES_API_PASSWORD=kube-password
podman secret create "$SECRET_NAME" "$workdir/secret.json" >/dev/null

step "migration Job (as a pod)"
play "$workdir/migrate.yaml"
exit_code=$(podman wait movie-collections-migrate-migrate)
[ "$exit_code" = 0 ] || { echo "migrate exited $exit_code" >&2; exit 1; }

step "stand-in catalogue and two API replicas on ports $port_1 and $port_2"
podman run --detach --name "$upstream" --network host --health-cmd none "$IMAGE" movie-collections mock-upstream \
    --host 127.0.0.1 --port "$upstream_port" --username kube --password kube-password \
    >/dev/null 2> >(grep -v systemd >&2)
play "$workdir/api.yaml"
step "waiting for both replicas' readiness"
# Podman does not run readiness probes: poll the manifest's readiness path, as a kubelet would.
for port in "$port_1" "$port_2"; do
    for attempt in $(seq 120); do
        curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
        [ "$attempt" = 120 ] && { echo "replica on $port never became ready" >&2; exit 1; }
        sleep 0.5
    done
done

step "the image's HEALTHCHECK, inside replica 1"
# Podman runs health checks from systemd timers, which this machine lacks: run it by hand.
mapfile -t healthcheck < <(podman image inspect --format '{{range .Config.Healthcheck.Test}}{{println .}}{{end}}' "$IMAGE")
[ "${healthcheck[0]}" = CMD ] || { echo "unexpected HEALTHCHECK ${healthcheck[*]}" >&2; exit 1; }
podman exec movie-collections-api-1-api "${healthcheck[@]:1}"
echo "healthy; runs as $(podman exec movie-collections-api-1-api id -un)"

step "journey through both replicas"
"$BIN/python" scripts/container_journey.py "http://127.0.0.1:$port_1" "http://127.0.0.1:$port_2"
step "done"
