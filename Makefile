# The two commands a newcomer needs: `make demo` and `make test`.
VENV_PY := .venv/bin/python

.PHONY: setup demo lab test lint rpm

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV_PY) scripts/with_redis.py --own $(VENV_PY) scripts/demo.py

# The console managing real-kernel hosts (QEMU guests on Debian's kernel); LAB_HOSTS=3.
lab: setup
	$(VENV_PY) scripts/with_redis.py --own $(VENV_PY) scripts/lab.py

# The hosts' package (XenServer 8 / XCP-ng 8.3 dom0): dist/o2cb-agent-VERSION-1.noarch.rpm.
rpm: setup
	$(VENV_PY) scripts/build_rpm.py

lint: setup
	.venv/bin/ruff check .
	$(VENV_PY) manage.py makemigrations --check --dry-run
	$(VENV_PY) scripts/import_graph.py
	$(VENV_PY) scripts/code_size.py --top 5
	$(VENV_PY) scripts/dom0_python.py

test: lint
	$(VENV_PY) scripts/with_redis.py $(VENV_PY) -m pytest $(PYTEST_ARGS)
