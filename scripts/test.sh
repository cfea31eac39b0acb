#!/usr/bin/env bash
# Run the whole test suite. With no DATABASE_URL / CELERY_BROKER_URL set it uses
# the embedded SQLite defaults; CI sets them to PostgreSQL and Redis.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
