#!/usr/bin/env bash
# The README's run command: set up (idempotent), then start the studio, offline.
#   scripts/run.sh            the Streamlit studio on http://localhost:8501
#   scripts/run.sh --gradio   the Gradio app and its HTTP API on http://localhost:7860
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "${1:-}" = "--gradio" ]; then
  shift
  export GRADIO_ANALYTICS_ENABLED=False
  exec .venv/bin/python gradio_app.py "$@"
fi
export STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
exec .venv/bin/streamlit run app.py --server.headless true "$@"
