PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

# Run dnlint's main job on a bundled fixture. Succeeds when dnlint ran, whatever it found.
demo: install
	$(BIN)/dnlint check fixtures/seed/userland-proxy-off-route-localnet-0.txt; \
	  status=$$?; [ $$status -le 1 ] || exit $$status

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/parse_bench.py

clean:
	rm -rf $(VENV) build *.egg-info
