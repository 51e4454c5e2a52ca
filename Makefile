# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PACK   ?= knowledge/demo-shop

.PHONY: install run test bench intent-examples eval-retrieval clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/huashu ingest $(PACK)
	@echo "huashu: API on http://$(HOST):$(PORT)  (OpenAPI docs: http://$(HOST):$(PORT)/docs)"
	$(BIN)/huashu serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/bench_retrieval.py
	$(BIN)/python bench/bench_guardrails.py
	$(BIN)/python bench/bench_suggestions.py
	$(BIN)/python bench/bench_llm.py
	$(BIN)/python bench/bench_eval.py
	$(BIN)/python bench/bench_intents.py
	$(BIN)/python bench/bench_store.py

# The development sets' single-message cases train the intent model (never the golden sets).
intent-examples: $(STAMP)
	$(BIN)/huashu eval intent-examples $(sort $(wildcard eval/dev-*.jsonl)) \
		$(foreach g,$(sort $(wildcard eval/golden-*.jsonl)),--exclude $(g)) \
		--out knowledge/builtin/intent_examples_dialogues.yaml

eval-retrieval: $(STAMP)
	$(BIN)/huashu ingest $(PACK)
	$(BIN)/huashu eval retrieval eval/retrieval-demo.jsonl

clean:
	rm -rf $(VENV) data .pytest_cache
