# The two commands of the README:  `make demo`  and  `make test`  (`make lint`: ruff, as CI runs it).
# Both install first (./install.sh is idempotent and fast once done).
VENV ?= .venv
DEMO_OUT ?= demo-output

.PHONY: install demo test lint bench

install:
	./install.sh

demo: install
	$(VENV)/bin/pasture demo --output $(DEMO_OUT)

# Tests run on every core (pytest-xdist), up to 4, a test file per worker: files share module fixtures.
test: install
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -n auto --maxprocesses 4 --dist loadfile tests

lint: install
	$(VENV)/bin/ruff check .

bench: install
	@for script in bench/*.py; do case $$script in bench/_*) continue;; esac; echo "== $$script"; $(VENV)/bin/python $$script || exit 1; done
