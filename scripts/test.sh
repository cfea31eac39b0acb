#!/usr/bin/env bash
# Lint, type-check and run the whole test suite. With no DATABASE_URL /
# CELERY_BROKER_URL set it uses the embedded SQLite defaults; CI sets them to
# PostgreSQL and Redis.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# What is checked and how strictly: [tool.mypy] in pyproject.toml. The incremental
# cache (.mypy_cache) makes a run after an edit take a second or two; a cold one ~45 s.
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
