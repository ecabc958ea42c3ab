#!/usr/bin/env bash
# The README's run command: set up (idempotent), then start the studio on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
exec .venv/bin/streamlit run app.py --server.headless true "$@"
