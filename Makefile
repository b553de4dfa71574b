# The two commands a newcomer needs: `make demo` and `make test`.
VENV_PY := .venv/bin/python

.PHONY: setup demo test lint

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV_PY) scripts/with_redis.py --own $(VENV_PY) scripts/demo.py

lint: setup
	.venv/bin/ruff check .
	$(VENV_PY) manage.py makemigrations --check --dry-run

test: lint
	$(VENV_PY) scripts/with_redis.py $(VENV_PY) -m pytest $(PYTEST_ARGS)
