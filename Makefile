# The two set-up commands of the README: `make quickstart` and `make test`.
PYTHON ?= python3
export PYTHON

.PHONY: install install-dev quickstart test test-fast lint

install:
	bash scripts/install.sh

install-dev:
	bash scripts/install.sh dev,demo,tracking,qlora,server,hub,haystack

quickstart: install
	$(PYTHON) -m edgeqa pipeline --config configs/quickstart.yaml

test: install-dev
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest

# While editing: every test that loads no model and starts no process (no install step).
test-fast:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest -m "not slow and not gpu" -q

lint:
	$(PYTHON) -m ruff check .
