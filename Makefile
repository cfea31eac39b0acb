.DEFAULT_GOAL := help
PY := .venv/bin/python

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run:  ## install, load the demo, start worker + web server (same as README)
	bash scripts/run.sh

test:  ## lint, type-check and run the whole test suite (same as README)
	bash scripts/test.sh

test-pg:  ## the suite against local PostgreSQL + Redis, as CI runs it
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/test CELERY_BROKER_URL=redis://127.0.0.1:6379/0 bash scripts/test.sh

lint:  ## ruff lint + format check
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

typecheck:  ## mypy: strict for inference/ml, the default elsewhere (pyproject.toml)
	.venv/bin/mypy

format:  ## apply ruff fixes and formatting
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

worker:  ## start one more Celery worker against the configured broker
	.venv/bin/celery -A radreview worker --pool=solo --loglevel=INFO

bench:  ## run every benchmark in quick mode
	for b in bench/*_bench.py; do echo "# $$b"; $(PY) $$b --quick; done

migrations:  ## check that models and migrations agree
	$(PY) manage.py makemigrations --check --dry-run
