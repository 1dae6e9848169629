#!/usr/bin/env bash
# Set up the environment and run the whole test suite (lint, types, tests).
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check smprod catalog flows infra tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
