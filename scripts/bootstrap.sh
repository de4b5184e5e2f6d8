#!/usr/bin/env bash
# Installs the one tool the Makefile needs before anything else (uv, from PyPI, into a private venv
# under the cache) and syncs the workspace's virtualenv from the lock file.
set -euo pipefail
CACHE="${PARLEY_CACHE:-$HOME/.cache/parley}"
UV_VERSION="0.13.9"
TOOLS="$CACHE/tools"
UV="$TOOLS/bin/uv"
if [ ! -x "$UV" ] || [ "$("$UV" --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  echo "==> installing uv $UV_VERSION into $TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
export UV_PYTHON_DOWNLOADS=never
cd "$(dirname "$0")/.."
if [ -f uv.lock ]; then
  "$UV" sync --frozen --python python3.11 --quiet
else
  "$UV" sync --python python3.11 --quiet
fi
