#!/usr/bin/env bash
# Builds the local base image for the Containerfile from Debian's own packages, for machines
# that cannot pull registry images: Debian bookworm (minbase) with python3 (3.11),
# python3-venv and ca-certificates, made by mmdebstrap and imported into podman. Reuses the
# image when it exists (FORCE=1 rebuilds it). Prints the image name. Settings: BASE_IMAGE
# (default localhost/movie-collections-base:bookworm), DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."

export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/containers.conf}
BASE_IMAGE=${BASE_IMAGE:-localhost/movie-collections-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if [ -z "${FORCE:-}" ] && podman image exists "$BASE_IMAGE"; then
    echo "$BASE_IMAGE"
    exit 0
fi

started=$(date +%s)
# Documentation, manual pages and translations are left out, as in the slim registry images;
# /usr is merged by mmdebstrap's hook rather than the usrmerge package (which brings perl).
mmdebstrap --quiet --variant=minbase --mode=root \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include=python3,python3-venv,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm - \
    "deb $MIRROR bookworm main" \
    "deb $MIRROR bookworm-updates main" \
    "deb $SECURITY_MIRROR bookworm-security main" |
    podman import --quiet \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        --message "Debian bookworm minbase + python3, python3-venv (mmdebstrap)" \
        - "$BASE_IMAGE" >/dev/null
echo "built $BASE_IMAGE in $(($(date +%s) - started)) s" >&2
echo "$BASE_IMAGE"
