# Two commands on a fresh machine: `make run` (the bot, on SQLite) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

# A real LiteLLM proxy for the gateway tests and benchmarks, in its own virtualenv: its pins (pydantic,
# APScheduler, ...) conflict with the bot's. 1.106.2 is the newest release that resolves from the registry here.
LITELLM_VERSION := 1.106.2
LITELLM_VENV    := .venv-litellm
LITELLM_STAMP   := $(LITELLM_VENV)/.installed-$(LITELLM_VERSION)
export TOKENBOT_TEST_LITELLM := $(CURDIR)/$(LITELLM_VENV)/bin/litellm

.PHONY: install litellm run test test-sqlite test-postgres demo bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "tokenbot needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

$(LITELLM_STAMP):
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install --quiet --upgrade pip
	$(LITELLM_VENV)/bin/pip install --quiet 'litellm[proxy]==$(LITELLM_VERSION)'
	@touch $@

litellm: $(LITELLM_STAMP)

run: $(STAMP)
	$(BIN)/tokenbot serve

# The whole suite on SQLite, then again on PostgreSQL (a database per test, created on POSTGRES_URL's server).
test: test-sqlite test-postgres

# pytest exits 5 when it collected no test: that is a broken suite, never a pass.
PYTEST = $(BIN)/python -m pytest -q $(PYTEST_ARGS) || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest ran no test" >&2; exit $$rc; }

test-sqlite: $(STAMP) $(LITELLM_STAMP)
	$(PYTEST)

test-postgres: $(STAMP) $(LITELLM_STAMP)
	TOKENBOT_TEST_POSTGRES_URL=$(POSTGRES_URL) $(PYTEST)

demo: $(STAMP)
	$(BIN)/tokenbot demo

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/tokens_me.py

clean:
	rm -rf $(VENV) $(LITELLM_VENV) data
