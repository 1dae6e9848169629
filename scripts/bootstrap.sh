#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with pinned versions.
# Idempotent: a second run only re-checks the pins. Usage: bash scripts/bootstrap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
# requirements/constraints.txt is the lock: every transitive version that was tested together.
.venv/bin/python -m pip install --quiet -c requirements/constraints.txt -e ".[test]"
