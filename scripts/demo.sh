#!/usr/bin/env bash
# Set up the environment and run the demo production on embedded defaults.
# Usage: bash scripts/demo.sh [smprod demo options, e.g. --workdir W --days N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/smprod demo "$@"
