# deepprune: common tasks. `make install` sets up a CPU machine; GPU users install
# their own torch first and then `pip install -e ".[train,embed,notebooks,dev]"`.
PY ?= python3
PIP ?= $(PY) -m pip
CONSTRAINTS ?= constraints-cpu.txt
EXTRAS ?= train,embed,gguf,notebooks,dev

.PHONY: install demo test lint format bench figures results

install:
	$(PIP) install -q -c $(CONSTRAINTS) torch
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	# no CPU builds of torchvision/torchaudio exist; transformers treats both as optional
	$(PIP) uninstall -q -y torchvision torchaudio 2>/dev/null || true
	$(PY) -m ipykernel install --user --name python3 >/dev/null

demo: install
	deepprune prune

test: install
	$(PY) -m pytest -q

lint:
	ruff check . && ruff format --check .

format:
	ruff format . && ruff check --fix .

bench:
	$(PY) bench/run_all.py

figures:
	deepprune prune --out Online/figures
