#!/usr/bin/env bash
# Bootstraps a fresh machine for SpectraDepth: apt packages (when root), then a virtualenv.
# Idempotent: installs only what is missing; `make` reruns it when requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    missing=()
    while read -r pkg; do
        [ -z "$pkg" ] && continue
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done < <(grep -v '^\s*#' packages.txt)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: apt-get install ${missing[*]}"
        log=$(mktemp)
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}"; } >"$log" 2>&1 || { cat "$log"; exit 1; }
        rm -f "$log"
    fi
elif ! ldconfig -p 2>/dev/null | grep -q libusb-1.0; then
    echo "setup: not root; install the Debian packages in packages.txt yourself (open3d needs libusb-1.0-0)" >&2
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
# A smoke import of the whole stack: the torch/torchvision pairing trap fails here, not later.
.venv/bin/python -c "import torch, torchvision, open_clip, transformers, open3d, gradio, streamlit"
touch .venv/.installed
