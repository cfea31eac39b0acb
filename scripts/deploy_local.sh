#!/usr/bin/env bash
# The several-machine layout, all on one machine, against PostgreSQL and Redis:
#
#   scripts/deploy_local.sh start     # migrate, collectstatic, start everything, wait for health
#   scripts/deploy_local.sh status    # which processes are alive
#   scripts/deploy_local.sh stop      # stop them (newest first)
#
# Processes (README "Several machines" says which machine runs which):
#   web          gunicorn radreview.wsgi ($WEB_WORKERS workers on $WEB_HOST:$WEB_PORT)
#   interactive  celery worker for the interactive queue (imports, small runs)
#   heavy        celery worker for the heavy queue (cohort jobs, training, evaluation)
#   beat         celery beat: the periodic check that re-sends a dead worker's jobs
#   llm          the OpenAI-compatible LLM server stage 2 calls (LLM_SERVER=llama:
#                llama-cpp-python's server on $RADREVIEW_LLM_MODEL; fake: the fixed-latency
#                fake server; none: use RADREVIEW_LLM_* as configured)
#
# Required: DATABASE_URL (postgres://...), CELERY_BROKER_URL (redis://...), SECRET_KEY.
# Optional: DEPLOY_DIR (pids and logs; var/deploy), DEPLOY_NAME (worker names; radreview),
# WEB_HOST/WEB_PORT/WEB_WORKERS, HEAVY_CONCURRENCY (default: cores), LLM_SERVER,
# LLM_PORT (8081), JOBS_QUEUE_PREFIX, DJANGO_SETTINGS_MODULE (production).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DEPLOY_DIR="${DEPLOY_DIR:-$ROOT/var/deploy}"
DEPLOY_NAME="${DEPLOY_NAME:-radreview}"
PIDS="$DEPLOY_DIR/pids"
LOGS="$DEPLOY_DIR/log"
PY="$ROOT/.venv/bin/python"
CELERY="$ROOT/.venv/bin/celery"
GUNICORN="$ROOT/.venv/bin/gunicorn"
WEB_HOST="${WEB_HOST:-127.0.0.1}"
WEB_PORT="${WEB_PORT:-8000}"
WEB_WORKERS="${WEB_WORKERS:-2}"
HEAVY_CONCURRENCY="${HEAVY_CONCURRENCY:-$(nproc)}"
LLM_SERVER="${LLM_SERVER:-llama}"
LLM_PORT="${LLM_PORT:-8081}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-120}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-radreview.settings.production}"
# The order processes start in; stop goes the other way.
NAMES="llm web interactive heavy beat"

log() { echo "==> [$(date +%T)] $*"; }
die() { echo "deploy_local: $*" >&2; exit 1; }

pid_of() { cat "$PIDS/$1.pid" 2>/dev/null || true; }
alive() { local pid; pid="$(pid_of "$1")"; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

launch() {  # launch NAME COMMAND...: in the background, its own session, pid and log kept
  local name="$1"; shift
  if alive "$name"; then die "$name is already running (pid $(pid_of "$name")); run stop first"; fi
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo "$!" >"$PIDS/$name.pid"
}

wait_until() {  # wait_until WHAT NAME COMMAND...: until COMMAND succeeds or NAME dies
  local what="$1" name="$2"; shift 2
  local deadline=$((SECONDS + HEALTH_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    alive "$name" || { tail -n 40 "$LOGS/$name.log" >&2; die "$name exited before $what"; }
    [ "$SECONDS" -lt "$deadline" ] || { tail -n 40 "$LOGS/$name.log" >&2; die "$name: no $what in ${HEALTH_TIMEOUT}s"; }
    sleep 0.5
  done
}

http_ok() { "$PY" - "$@" <<'EOF'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"X-Forwarded-Proto": "https"})
with urllib.request.urlopen(request, timeout=5) as response:
    sys.exit(0 if response.status == 200 else 1)
EOF
}

static_stamp() {  # "<hash of the static sources, their sizes and times> <STATIC_ROOT>"
  "$PY" - <<'EOF' 2>/dev/null | tail -n 1
import hashlib, os
import django
django.setup()
from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
entries = []
for finder in get_finders():
    for path, storage in finder.list(["CVS", ".*", "*~"]):
        stat = os.stat(storage.path(path))
        entries.append(f"{path}:{stat.st_size}:{int(stat.st_mtime)}")
digest = hashlib.sha256("\n".join([os.environ["DJANGO_SETTINGS_MODULE"], *sorted(entries)]).encode())
print(digest.hexdigest(), settings.STATIC_ROOT)
EOF
}

worker_ready() { grep -q "ready\." "$LOGS/$1.log"; }

start_llm() {
  case "$LLM_SERVER" in
    none) return ;;
    fake)
      launch llm "$PY" -m inference.ml.llm.servers fake --port "$LLM_PORT" --latency "${LLM_FAKE_LATENCY:-0.2}"
      export RADREVIEW_LLM_MODEL=fake-llm ;;
    llama)
      local model
      model="$("$PY" manage.py shell -c "from inference.services.stage2_backend import llm_settings, resolve_model_path; print(resolve_model_path(llm_settings().model))" 2>/dev/null | tail -n 1)" \
        || die "no GGUF model for RADREVIEW_LLM_MODEL=${RADREVIEW_LLM_MODEL:-the default}: run manage.py llm_install"
      [ -f "$model" ] || die "GGUF model not found: $model (manage.py llm_install --preset NAME)"
      launch llm "$PY" -m inference.ml.llm.servers llama --model "$model" --port "$LLM_PORT" \
        --n-ctx "${RADREVIEW_LLM_CONTEXT_SIZE:-4096}"
      export RADREVIEW_LLM_MODEL=local ;;
    *) die "LLM_SERVER=$LLM_SERVER: use llama, fake or none" ;;
  esac
  # Every web and worker process started below talks to this server; llm.env says so
  # to the commands an admin runs by hand (`set -a; . var/deploy/llm.env; set +a`).
  export RADREVIEW_LLM_BACKEND=openai RADREVIEW_LLM_SERVER_URL="http://127.0.0.1:$LLM_PORT/v1"
  printf 'RADREVIEW_LLM_BACKEND=%s\nRADREVIEW_LLM_SERVER_URL=%s\nRADREVIEW_LLM_MODEL=%s\n' \
    "$RADREVIEW_LLM_BACKEND" "$RADREVIEW_LLM_SERVER_URL" "$RADREVIEW_LLM_MODEL" >"$DEPLOY_DIR/llm.env"
}

start() {
  case "${DATABASE_URL:-}" in postgres://* | postgresql://*) ;; *) die "DATABASE_URL must be a postgres:// URL" ;; esac
  case "${CELERY_BROKER_URL:-}" in redis://* | rediss://*) ;; *) die "CELERY_BROKER_URL must be a redis:// URL" ;; esac
  [ -n "${SECRET_KEY:-}" ] || die "SECRET_KEY is required"
  [ -x "$PY" ] || die "no .venv: run bash scripts/bootstrap.sh requirements.txt"
  mkdir -p "$PIDS" "$LOGS"
  local prefix="${JOBS_QUEUE_PREFIX:-}"
  local heavy_queues="${prefix}heavy"
  # Tasks sent without a queue (beat's periodic check) go to "celery"; a prefixed
  # deployment sharing a broker leaves that queue to the main one.
  [ -n "$prefix" ] || heavy_queues="heavy,celery"

  log "migrating the database"
  "$PY" manage.py migrate --noinput -v 0
  # collectstatic with the production storage hashes and compresses ~30 MB (about a
  # CPU minute): skipped when the static sources and settings are those of the last run.
  local stamp_line stamp root
  stamp_line="$(static_stamp)"
  stamp="${stamp_line%% *}" root="${stamp_line#* }"
  if [ -n "$stamp" ] && [ "$(cat "$root/.deploy-stamp" 2>/dev/null || true)" = "$stamp" ]; then
    log "static files are up to date in $root"
  else
    log "collecting static files"
    "$PY" manage.py collectstatic --noinput -v 0
    [ -z "$stamp" ] || echo "$stamp" >"$root/.deploy-stamp"
  fi

  log "starting the LLM server ($LLM_SERVER)"
  start_llm
  log "starting web (gunicorn, $WEB_WORKERS workers), the interactive and heavy workers, beat"
  launch web "$GUNICORN" radreview.wsgi --workers "$WEB_WORKERS" --bind "$WEB_HOST:$WEB_PORT" \
    --access-logfile - --graceful-timeout 10
  launch interactive "$CELERY" -A radreview worker -Q "${prefix}interactive" \
    -n "interactive-$DEPLOY_NAME@%h" --concurrency=1 --loglevel=INFO
  launch heavy "$CELERY" -A radreview worker -Q "$heavy_queues" \
    -n "heavy-$DEPLOY_NAME@%h" --concurrency="$HEAVY_CONCURRENCY" --loglevel=INFO
  launch beat "$CELERY" -A radreview beat --loglevel=INFO \
    --schedule "$DEPLOY_DIR/celerybeat-schedule"

  log "waiting for health"
  if [ "$LLM_SERVER" != none ]; then
    wait_until "answer on /v1/models" llm http_ok "http://127.0.0.1:$LLM_PORT/v1/models"
  fi
  wait_until "answer on /healthz" web http_ok "http://$WEB_HOST:$WEB_PORT/healthz"
  wait_until "ready line" interactive worker_ready interactive
  wait_until "ready line" heavy worker_ready heavy
  alive beat || die "beat exited: see $LOGS/beat.log"
  log "running: http://$WEB_HOST:$WEB_PORT/ (pids in $PIDS, logs in $LOGS)"
}

stop() {
  local name pid reversed=""
  for name in $NAMES; do reversed="$name $reversed"; done
  for name in $reversed; do
    pid="$(pid_of "$name")"
    [ -n "$pid" ] || continue
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "deploy_local: $name (pid $pid) did not stop in 10 s; killing it" >&2
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      fi
      echo "stopped $name (pid $pid)"
    fi
    rm -f "$PIDS/$name.pid"
  done
}

status() {
  local name code=0
  for name in $NAMES; do
    if alive "$name"; then echo "$name: running (pid $(pid_of "$name"))"
    elif [ -f "$PIDS/$name.pid" ]; then echo "$name: dead"; code=1
    else echo "$name: not started"; fi
  done
  return "$code"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
