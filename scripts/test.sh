#!/usr/bin/env bash
# Set up the environment and run the whole test suite (lint, types, tests).
# Usage: bash scripts/test.sh [extra pytest arguments]
# The tests run on one pytest-xdist worker per core (SMPROD_TEST_WORKERS overrides: a number, or
# 0 for one process), each test module kept on one worker (--dist loadfile) so that a module's
# fixtures (its Prefect server, its champion model) are built once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check smprod catalog flows infra tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest -n "${SMPROD_TEST_WORKERS:-auto}" --dist loadfile "$@"
