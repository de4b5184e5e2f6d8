#!/bin/sh
# uv for the build stage of services/Dockerfile and operator/Dockerfile: `install-uv.sh VERSION`.
# A build may bring its own: `make images` (podman) mounts the host's uv, a uv cache it filled and a
# uv.toml that makes uv offline into the RUN steps (the build containers of the development machines
# cannot use the package index); then this does nothing. Otherwise uv comes from the package index,
# into a virtualenv of its own; an image without pip or ensurepip (Debian's python3 alone) first gets
# Debian's python3-venv, which brings both. The runtime stage needs neither.
set -eu
version="$1"
if command -v uv >/dev/null; then
    exit 0
fi
if ! python3 -c "import ensurepip" 2>/dev/null; then
    apt-get update
    apt-get install -y --no-install-recommends python3-venv
    rm -rf /var/lib/apt/lists/*
fi
python3 -m venv /opt/uv
/opt/uv/bin/pip install --no-cache-dir "uv==${version}"
ln -s /opt/uv/bin/uv /usr/local/bin/uv
