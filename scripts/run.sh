#!/usr/bin/env bash
# One command for a newcomer: install, migrate, load the demo (schema, corpus,
# one user per role), start a Celery worker and the web server. Ctrl-C stops both.
# Embedded defaults: SQLite database and a SQLite-file Celery broker under ./var.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh requirements.txt
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-radreview.settings.development}"
PY=.venv/bin/python
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
mkdir -p var/log

echo "==> migrating the database"
$PY manage.py migrate --noinput -v 0
echo "==> loading the demo (idempotent)"
$PY manage.py demo_setup

echo "==> starting a Celery worker (log: var/log/worker.log)"
.venv/bin/celery -A radreview worker --pool=solo --loglevel=INFO >var/log/worker.log 2>&1 &
WORKER_PID=$!
trap 'kill $WORKER_PID 2>/dev/null || true; wait $WORKER_PID 2>/dev/null || true' EXIT INT TERM

echo
echo "    RadReview is running at http://$HOST:$PORT/   (Ctrl-C to stop)"
echo
$PY manage.py runserver "$HOST:$PORT" --noreload
