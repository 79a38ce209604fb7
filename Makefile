PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install bench bench-parse bench-query bench-check bench-matrix bench-diff oracle-long clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q analyzer >/dev/null  # bytecode even where PYTHONDONTWRITEBYTECODE is set

# Run dnlint's main job on a bundled fixture. Succeeds when dnlint ran, whatever it found.
demo: install
	$(BIN)/dnlint check fixtures/seed/userland-proxy-off-route-localnet-0.txt; \
	  status=$$?; [ $$status -le 1 ] || exit $$status

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks print numbers (ratios against references measured in the same run); see bench/README.md.
bench: bench-parse bench-query bench-check bench-matrix bench-diff

bench-parse: install
	$(BIN)/python bench/parse_bench.py

bench-query: install
	$(BIN)/python bench/query_bench.py

bench-check: install
	$(BIN)/python bench/check_bench.py

bench-matrix: install
	$(BIN)/python bench/matrix_bench.py

bench-diff: install
	$(BIN)/python bench/diff_bench.py

# A long kernel-oracle run (root, network namespaces): PROBES random probes against the real kernel.
PROBES ?= 10000
oracle-long: install
	$(BIN)/python bench/oracle_long.py --probes $(PROBES)

clean:
	rm -rf $(VENV) build *.egg-info
