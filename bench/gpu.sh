#!/usr/bin/env bash
# The prepared GPU check, one command through the device tool (its python3 has torch, pyarrow,
# tokenizers, xxhash, yaml, safetensors): GPT-2 124M (T 1024) and BERT-base (T 512) tokens per second
# and MFU on one GPU, bf16 and torch.compile. Results land in $OUT.
#   run: bash bench/gpu.sh        (about 5 minutes on one H200: three runs, each compiled)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
# Its own limit, under the device call's: a hang must not spend the whole device budget.
timeout 520 python3 -u bench/train_gpu.py --out "$OUT" 2>&1 | tee "$OUT/train_gpu.log"
