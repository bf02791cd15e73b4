# m2msim: `make run` and `make test` bootstrap .venv from pyproject.toml on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench fuzz transcripts clean venv

venv: $(STAMP)

# The stamp is older than pyproject.toml when a dependency changed: reinstall.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/m2msim run scenarios/default.yaml --out runs/default

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite's files run in TEST_WORKERS processes (pytest-xdist), each file's tests in one of them
# in order: most of the suite waits (modems' clocks, subprocesses, real clients), not computes.
# TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 3
pytest: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test: lint typecheck pytest

# The reliability suite at length: 1000 damaged inputs per reader (make test runs 25); a test of
# 1000 examples runs longer than the suite's 300 s timeout per test.
# Then every writing command interrupted at 300 seeded events (make test: each command once),
# and the further seeds and cases of the tests marked `long` (make test runs their first ones).
fuzz: $(STAMP)
	FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest tests/fuzz -q --timeout 7200
	HUNT_CASES=300 $(BIN)/python -m pytest tests/m2msim/test_interrupt_hunt.py -q --timeout 7200
	M2MSIM_LONG=1 $(BIN)/python -m pytest -m long -n $(TEST_WORKERS) --dist loadfile -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The example transcripts replay:// answers from, recorded again on the virtual modem's profiles.
transcripts: $(STAMP)
	$(BIN)/python -m hil.examples.record

clean:
	rm -rf $(VENV) runs .mypy_cache .pytest_cache .ruff_cache
