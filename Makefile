# deepprune: common tasks. `make install` sets up a CPU machine inside a virtual environment it
# creates (.venv; nothing outside it is touched); every target below runs in it. GPU users install
# their own torch first and then `pip install -e ".[train,deepspeed,embed,serve,notebooks,dev]"`.
BASE_PY ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONSTRAINTS ?= constraints-cpu.txt
EXTRAS ?= train,embed,gguf,serve,notebooks,dev
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: mutation mutation-recheck mutation-more transfer headroom install install-core demo test test-fast serve demo-generate solve-local probes-real lint format bench figures online-real offline-real comparison-real ablation-real crossfit-real gemma-judge online-trained features-real reproduce-parallel-probe

$(PY):
	$(BASE_PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# llama.cpp (the local server of `make serve` and the server tests) is built without -march=native:
# a native build on a CPU with AMX emits AMX tile instructions, and a kernel that does not grant
# them to the process (this sandbox's) kills the server with a general protection fault in
# libggml-cpu at its first request. Built once into a wheel directory outside the repository
# (about 6 minutes on 2 cores) and reused by every later install.
LLAMA_CPP_VERSION := $(shell sed -n 's/^llama-cpp-python==//p' $(CONSTRAINTS))
LLAMA_WHEELS ?= $(HOME)/.cache/deepprune/llama-cpp-python-$(LLAMA_CPP_VERSION)-portable
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

install: $(PY)
	$(PIP) install -q -c $(CONSTRAINTS) torch
	[ -n "$$(ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl 2>/dev/null)" ] || \
	    CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel -q --no-cache-dir --no-deps -w $(LLAMA_WHEELS) \
	    llama-cpp-python==$(LLAMA_CPP_VERSION)
	$(PIP) install -q -c $(CONSTRAINTS) --find-links $(LLAMA_WHEELS) -e ".[$(EXTRAS)]"
	# no CPU builds of torchvision/torchaudio exist; transformers treats both as optional
	$(PIP) uninstall -q -y torchvision torchaudio 2>/dev/null || true
	# the notebooks' kernel, inside the environment (a user's own kernels are left alone)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	# plain `llamafactory-cli train` accepts the focal_* keys: a .pth import hook in this environment only
	# (see deepprune/train/lf_hook.py)
	$(PY) -m deepprune.cli hook install

# the demo needs only the core dependencies (no torch, no llama.cpp build): a fresh clone runs it in
# about a minute; `make install` (test, serve, the real-data targets) adds the extras to the same .venv
install-core: $(PY)
	$(PIP) install -q -e .

demo: install-core
	deepprune prune

# both cores (pytest-xdist; tests grouped by --dist loadgroup where they share a server); the 15 slowest are printed
TEST_ARGS ?= -n auto --dist loadgroup --durations=15
test: install
	$(PY) -m pytest -q $(TEST_ARGS)

test-fast: install
	$(PY) -m pytest -q $(TEST_ARGS) -m "not slow"

lint:
	ruff check . && ruff format --check .

# mutation testing of the number-producing modules named in pyproject.toml's [tool.mutmut] (outside CI:
# minutes; results cached in mutants/ between runs); prints the score per module
mutation: install
	$(PIP) install -q "mutmut>=3.3,<4"
	$(PY) bench/mutation_scores.py --prepare
	$(VENV)/bin/mutmut run >/dev/null 2>&1 || true
	$(PY) bench/mutation_scores.py

# mutmut keeps each verdict: after new tests, rerun only the survivors (minutes, not the whole run)
mutation-recheck: install
	S="$$($(PY) bench/mutation_scores.py --survivors)"; $(PY) bench/mutation_scores.py --prepare; \
	  [ -z "$$S" ] || $(VENV)/bin/mutmut run $$S >/dev/null 2>&1 || true
	$(PY) bench/mutation_scores.py

# the same over the modules of pyproject's [tool.deepprune.mutation-more] (the OpenAI-compatible backend and
# the proxy's core, whose tests start servers; the judge, truncation and pruning): mutmut runs in its own
# tree, .mutation-more/, with its own cache; a second run retests only the changed functions and the survivors
mutation-more: install
	$(PIP) install -q "mutmut>=3.3,<4"
	$(PY) bench/mutation_scores.py --more-tree
	cd .mutation-more && S="$$($(abspath $(PY)) bench/mutation_scores.py --survivors 2>/dev/null)"; \
	  $(abspath $(VENV))/bin/mutmut run >/dev/null 2>&1; [ -z "$$S" ] || $(abspath $(VENV))/bin/mutmut run $$S >/dev/null 2>&1 || true
	cd .mutation-more && $(abspath $(PY)) bench/mutation_scores.py

format:
	ruff format . && ruff check --fix .

bench:
	$(PY) bench/run_all.py

# every figure, from the committed result JSON (Online/results/), into runs/figures/ (untracked)
figures:
	deepprune figures --results Online/results --out runs/figures

# the local OpenAI-compatible server (llama.cpp, Gemma 3 270M GGUF) on 127.0.0.1:$(PORT), until Ctrl-C
PORT ?= 8765
serve:
	deepprune serve --port $(PORT)

# a small real pool from the local server: 24 arithmetic problems x 8 traces (start `make serve` first)
demo-generate:
	deepprune generate --problems DeepPrune_data/problems/arith24.jsonl --n 8 --max-tokens 64 \
	    --base-url http://127.0.0.1:$(PORT)/v1 --model gemma3-270m --prompt @DeepPrune_data/prompts/fewshot_math.txt \
	    --stop "$$(printf '\nQuestion:')" --out runs/generate/arith24-gemma3-270m.jsonl

# Online/SOLVE.md: every live method against the local server (start `make serve` first) on the live
# problem set (DeepPrune_data/make_live_problems.py: the first 20 of its 24 one-step additions; time on 2 cores),
# 16 traces each. DeepPrune with the answer-probe judge (a probe every 8 tokens, cut at the 2nd; K2 = 4 of
# the 16 traces completed: our choice, the paper's K2 = 20 would complete the whole cluster at N = 16),
# cons@k at its budget, Parallel-Probe (T, warm-up and patience scaled to ~5-round traces: our
# choice; published: 40 / 15 / 7), and DeepConf-online on 2 problems x 8 traces (llama.cpp computes
# logprobs at ~3.5 tokens/s on 2 cores). Sizes are our choice for a 2-core CPU. One problem at a time
# (--concurrent-problems 1): llama-cpp-python serves one request at a time and reuses the KV cache of a shared
# prompt prefix, which problems interleaved would evict.
SOLVE_ARGS = --problems runs/solve/add20.jsonl --base-url http://127.0.0.1:$(PORT)/v1 --model gemma3-270m \
	--n 16 --max-tokens 48 --prompt @DeepPrune_data/prompts/fewshot_add.txt --stop "$$(printf '\nQuestion:')" --concurrent-problems 1
solve-local:
	@mkdir -p runs/solve
	head -20 DeepPrune_data/problems/add24.jsonl > runs/solve/add20.jsonl
	deepprune solve $(SOLVE_ARGS) --methods cons@N,deepprune,cons@k,parallel-probe --judge probe --trunc probe:2 --K2 4 \
	    --probe-every 8 --probe-tokens 4 --pp-T 2 --pp-warm-up 1 --pp-patience 2 --out runs/solve/add20 --markdown runs/solve/add20.md
	head -2 runs/solve/add20.jsonl > runs/solve/add2.jsonl
	deepprune solve $(subst runs/solve/add20.jsonl,runs/solve/add2.jsonl,$(SOLVE_ARGS)) --n 8 \
	    --methods cons@N,deepconf --deepconf-window 8 --deepconf-warmup 4 --logprobs 5 \
	    --out runs/solve/add2-deepconf --markdown runs/solve/add2-deepconf.md
	{ echo "<!-- generated by: make solve-local -->"; echo; \
	  echo "### 20 problems x 16 traces: cons@N, DeepPrune[probe] (probe:2, a probe every 8 tokens of at most 4 tokens, K2 = 4), cons@k at its budget, Parallel-Probe (T = 2, warm-up 1, patience 2: our choice for ~5-round traces)"; \
	  echo; grep -v '^<!--' runs/solve/add20.md; \
	  echo; echo "### DeepConf-online (2 problems x 8 traces only: llama.cpp computes logprobs slowly; window 8 tokens, 4 warm-up traces: our choice for ~40-token traces)"; \
	  grep -v '^<!--' runs/solve/add2-deepconf.md; } > Online/SOLVE.md

# Online/RESULTS.md: DeepPrune vs baselines on every real shared pool (../shared/data/pools), two
# recipes: words:25 (paper) on the long reasoning-model pools; frac:0.3 on the short ones, where
# words:25 covers whole traces and nothing could be saved.
POOLS ?= ../shared/data/pools
LONG_POOLS = qwen3-8b-mmlu-think-n50 aimo3-deepseek-reasoner-n8 aimo3-gpt-oss-120b-n8
SHORT_POOLS = qwen25math-math100-n8 esc-gpt35-lastletters-n40
online-real:
	deepprune prune --config Online/recipes/results-long.yaml >/dev/null
	deepprune prune --config Online/recipes/results-short.yaml >/dev/null
	{ echo "<!-- generated by: make online-real -->"; grep -v '^<!--' runs/real/long.md; grep -v '^<!--' runs/real/short.md; } \
	    > Online/RESULTS.md.tmp && mv Online/RESULTS.md.tmp Online/RESULTS.md
	@mkdir -p Online/results
	for p in $(LONG_POOLS) $(SHORT_POOLS); do cp runs/real/$$p.json Online/results/prune-$$p.json; done

# Offline/BASELINES.md: untrained judges on every real pool (the baselines a trained judge
# must beat), on the held-out questions of the pair builder's split (what a trained judge
# is evaluated on) and on all questions (untrained judges see no training data; more
# pairs, tighter intervals; the only usable rows for the 10-question AIMO3 pools; 200
# bootstrap resamples there instead of 1000 to keep the run near 5 minutes).
# words:25 / tokens:500 on the long pools; frac:0.3 / frac:0.5 on the short ones (where
# words:25 and tokens:500 contain the answer).
GRID_JUDGES = --judge sbert --judge lexical:jaccard --judge lexical:tfidf
offline-real:
	@mkdir -p runs/grid
	for split in test all; do flag=$$([ $$split = all ] && echo --all-questions --bootstrap 200); \
	  deepprune judge grid $(foreach p,$(LONG_POOLS),--pool $(POOLS)/$(p).jsonl) --trunc words:25 --trunc tokens:500 \
	    $(GRID_JUDGES) $$flag --markdown runs/grid/long-$$split.md --json > runs/grid/long-$$split.json || exit 1; \
	  deepprune judge grid $(foreach p,$(SHORT_POOLS),--pool $(POOLS)/$(p).jsonl) --trunc frac:0.3 --trunc frac:0.5 \
	    $(GRID_JUDGES) $$flag --markdown runs/grid/short-$$split.md --json > runs/grid/short-$$split.json || exit 1; done
	{ echo "<!-- generated by: make offline-real -->"; \
	  echo; echo "### Held-out questions (the pair builder's 20% test split, seed 0)"; echo; \
	  grep -v '^<!--' runs/grid/long-test.md | grep -v '^$$'; tail -n +5 runs/grid/short-test.md | grep -v '^$$'; \
	  echo; echo "### All questions"; echo; \
	  grep -v '^<!--' runs/grid/long-all.md | grep -v '^$$'; tail -n +5 runs/grid/short-all.md | grep -v '^$$'; \
	} > Offline/BASELINES.md.tmp && mv Offline/BASELINES.md.tmp Offline/BASELINES.md
	@mkdir -p Online/results
	for f in runs/grid/*.json; do cp $$f Online/results/grid-$$(basename $$f); done

# Online/COMPARISON.md: every method family on every real pool, 32 repeats, paired bootstrap.
comparison-real:
	deepprune compare --config Online/recipes/comparison-long.yaml --json >/dev/null
	deepprune compare --config Online/recipes/comparison-short.yaml --json >/dev/null
	deepprune compare --config Online/recipes/comparison-probes.yaml --json >/dev/null
	{ echo "<!-- generated by: make comparison-real -->"; echo; cat Online/COMPARISON_HEADER.md; echo; \
	  grep -v '^<!--' runs/compare/long.md; grep -v '^<!--' runs/compare/short.md; grep -v '^<!--' runs/compare/probes.md; } \
	  > Online/COMPARISON.md.tmp && mv Online/COMPARISON.md.tmp Online/COMPARISON.md
	@mkdir -p Online/results
	for p in $(LONG_POOLS) $(SHORT_POOLS) $(PROBE_POOLS); do cp runs/comparison/$${p}_compare.json Online/results/; done

# Online/HEADROOM.md: on every real pool, cons@k against the oracle allocator (the most any method
# voting over completed traces could reach at cons@k's tokens) and the ASC allocator (issue 26).
headroom:
	deepprune headroom $(foreach p,$(LONG_POOLS) $(SHORT_POOLS) $(PROBE_POOLS),--pool $(POOLS)/$(p).jsonl) \
	    --out runs/headroom-real --markdown runs/headroom-real/headroom.md >/dev/null
	{ echo "<!-- generated by: make headroom -->"; echo; cat Online/HEADROOM_HEADER.md; echo; \
	  grep -v '^<!--' runs/headroom-real/headroom.md; } > Online/HEADROOM.md.tmp && mv Online/HEADROOM.md.tmp Online/HEADROOM.md
	@mkdir -p Online/results
	for p in $(LONG_POOLS) $(SHORT_POOLS) $(PROBE_POOLS); do cp runs/headroom-real/$${p}_headroom.json Online/results/; done

# Online/TRANSFER.md and the recipe `auto` runs (deepprune/data/auto_recipe.json): every family's setting chosen
# on 24 of the 25 shared pools and scored on the 25th, for each pool (leave-one-pool-out; issue 40). Pool
# tables are cached by content in runs/transfer/cache: a rerun takes seconds.
TRANSFER_POOLS = $(sort $(wildcard $(POOLS)/*.jsonl)) $(sort $(wildcard $(POOLS)/answers/*.jsonl))
transfer:
	deepprune transfer --pools $(TRANSFER_POOLS) --jobs 2 --out runs/transfer \
	    --recipe-out deepprune/data/auto_recipe.json --markdown Online/TRANSFER.md >/dev/null

# Offline/README.md, sections "ablation" and "crossfit": the recipes say what each runs.
# Their rows (with ROC points, for `make figures`) also go to Online/results as JSON.
ablation-real:
	@mkdir -p Online/results
	deepprune crossencoder ablation --config Offline/recipes/ablation.yaml --json > runs/ablation.json
	mv runs/ablation.json Online/results/ablation.json

crossfit-real:
	@mkdir -p Online/results
	deepprune crossencoder crossfit --config Offline/recipes/crossfit.yaml --json > runs/crossfit.json
	mv runs/crossfit.json Online/results/crossfit.json
	deepprune crossencoder crossfit --config Offline/recipes/crossfit-frozen.yaml --json > runs/crossfit-frozen.json
	mv runs/crossfit-frozen.json Online/results/crossfit-frozen.json

# Offline/GEMMA.md: the generative judge on real small weights (Gemma 3 270M from the GGUF
# package, LoRA, CPU): zero-shot vs cross-entropy vs focal + 2x oversampling, on held-out
# Qwen3-8B questions with tokens:96 prefixes (20 pairs per question; sizes are our choice).
GEMMA_PAIRS = $(POOLS)/qwen3-8b-mmlu-think-n50.jsonl --trunc tokens:96 --max-pairs 20 --test-fraction 0.4
gemma-judge:
	deepprune gguf-convert --out runs/gemma3-270m
	deepprune pairs build $(GEMMA_PAIRS) --out runs/gemma_pairs --oversample 2
	deepprune pairs build $(GEMMA_PAIRS) --out runs/gemma_pairs_x1 --oversample 1
	[ -f runs/gemma3-270m-judge-focal/adapter_config.json ] || deepprune train Offline/gemma3_270m_lora_cpu.yaml
	[ -f runs/gemma3-270m-judge-ce/adapter_config.json ] || deepprune train Offline/gemma3_270m_lora_cpu.yaml \
	    focal_loss=false dataset_dir=runs/gemma_pairs_x1 output_dir=runs/gemma3-270m-judge-ce
	deepprune judge grid --pool $(GEMMA_PAIRS) --judge llm:runs/gemma3-270m --judge llm:runs/gemma3-270m-judge-ce \
	    --judge llm:runs/gemma3-270m-judge-focal --judge sbert --judge lexical:tfidf --bootstrap 500 --markdown Offline/GEMMA.md

# Offline/FEATURES.md: the trained pair-feature judge (deepprune/judges/features.py), cross-fitted
# (5 folds over questions: every question judged by a judge that never saw it) on the real
# pools, its {ce, focal} x {x1, x2} ablation on Qwen3-8B, and transfer Qwen3-8B -> AIMO3.
features-real:
	@mkdir -p runs/features Online/results
	deepprune features crossfit --config Offline/recipes/features-qwen3.yaml --json > runs/features/qwen3.json
	deepprune features crossfit --config Offline/recipes/features-short.yaml --json > runs/features/short.json
	for k in 2 10; do deepprune features crossfit --config Offline/recipes/features-folds.yaml --folds $$k \
	    --markdown runs/features/folds-$$k.md --json > runs/features/folds-$$k.json || exit 1; done
	deepprune features train --pool $(POOLS)/qwen3-8b-mmlu-think-n50.jsonl --test-fraction 0 --out runs/features/qwen3-all --no-progress
	deepprune judge grid --pool $(POOLS)/aimo3-deepseek-reasoner-n8.jsonl --pool $(POOLS)/aimo3-gpt-oss-120b-n8.jsonl \
	    --trunc words:25 --trunc tokens:500 --judge sbert --judge lexical:tfidf --judge features:runs/features/qwen3-all \
	    --all-questions --bootstrap 500 --markdown runs/features/transfer.md >/dev/null
	{ echo "<!-- generated by: make features-real -->"; \
	  echo; echo "### Qwen3-8B (MMLU), 5-fold cross-fitted over its 25 questions"; echo; sed 1,2d runs/features/qwen3.md; \
	  echo; echo "### Fewer and more training questions: 2 and 10 folds (Qwen3-8B, \`words:25\`, focal x2)"; echo; \
	  sed -n 3,4p runs/features/folds-2.md; grep -h '| trained' runs/features/folds-2.md runs/features/folds-10.md; \
	  echo; echo "### Short pools, \`frac:0.3\`, 5-fold cross-fitted"; echo; sed 1,2d runs/features/short.md; \
	  echo; echo "### Transfer: trained on all Qwen3-8B questions, tested on the AIMO3 pools (other models, other task)"; \
	  echo; sed 1,2d runs/features/transfer.md; } > Offline/FEATURES.md
	for f in qwen3 short folds-2 folds-10; do cp runs/features/$$f.json Online/results/features-$$f.json; done

# Online/TRAINED.md: the trained cross-encoder and pair-feature judges inside DeepPrune on the
# held-out Qwen3-8B questions (never trained on), beside SBERT, the oracle ceiling, noisy
# oracles of each trained judge's measured held-out AUROC and budget-matched cons@k
# (Online/recipes/trained.yaml; the judge paths below must match it).
CE_JUDGE ?= runs/ablation/words25-start-focal-x2
LATE_JUDGE ?= runs/ablation/words25-start-late-focal-x2
FEAT_JUDGE ?= runs/features/qwen3-h40
online-trained:
	[ -f $(FEAT_JUDGE)/deepprune_features.json ] || deepprune features train --no-progress \
	    --pool $(POOLS)/qwen3-8b-mmlu-think-n50.jsonl --test-fraction 0.4 --out $(FEAT_JUDGE)
	@mkdir -p Online/results
	deepprune judge grid --pool $(POOLS)/qwen3-8b-mmlu-think-n50.jsonl \
	    --trunc words:25 --test-fraction 0.4 --judge features:$(FEAT_JUDGE) --judge crossencoder:$(CE_JUDGE) \
	    --judge crossencoder:$(LATE_JUDGE) --judge sbert --judge lexical:tfidf --bootstrap 500 \
	    --markdown Online/TRAINED_AUROC.md --json > runs/trained-auroc.json
	mv runs/trained-auroc.json Online/results/trained-auroc.json
	deepprune prune --config Online/recipes/trained.yaml

# Online/PARALLEL_PROBE.md: the published Parallel-Probe table reproduced (the recipe says how)
reproduce-parallel-probe:
	deepprune reproduce --config Online/recipes/parallel-probe.yaml

# Online/PROBES.md: DeepPrune with the answer-probe judge on the 128-trace probe pools (Qwen3-8B, AIME24 and
# HMMT25), prefixes of 1..4 probes (500..2,000 tokens), beside the oracle, a noisy oracle and budget-matched cons@k.
PROBE_POOLS = probe-qwen3-8b-aime24-n128 probe-qwen3-8b-hmmt25-n128
probes-real:
	@mkdir -p runs/probes
	for p in $(PROBE_POOLS); do for j in 1 2 3 4; do deepprune prune --pool $(POOLS)/$$p.jsonl --trunc probe:$$j \
	    --judge probe --judge probe:last=2 --repeats 8 --out runs/probes --markdown runs/probes/$$p-$$j.md >/dev/null || exit 1; done; done
	{ echo "<!-- generated by: make probes-real -->"; for p in $(PROBE_POOLS); do for j in 1 2 3 4; do \
	    grep -v '^<!--' runs/probes/$$p-$$j.md; done; done; } > Online/PROBES.md.tmp && mv Online/PROBES.md.tmp Online/PROBES.md
