# The two commands a newcomer needs: `make demo` and `make test`.
VENV_PY := .venv/bin/python

.PHONY: setup demo lab test lint

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV_PY) scripts/with_redis.py --own $(VENV_PY) scripts/demo.py

# The console managing real-kernel hosts (QEMU guests on Debian's kernel); LAB_HOSTS=3.
lab: setup
	$(VENV_PY) scripts/with_redis.py --own $(VENV_PY) scripts/lab.py

lint: setup
	.venv/bin/ruff check .
	$(VENV_PY) manage.py makemigrations --check --dry-run
	$(VENV_PY) scripts/import_graph.py
	$(VENV_PY) scripts/code_size.py --top 5
	$(VENV_PY) scripts/dom0_python.py

test: lint
	$(VENV_PY) scripts/with_redis.py $(VENV_PY) -m pytest $(PYTEST_ARGS)
