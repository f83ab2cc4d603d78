#!/usr/bin/env bash
# The prepared GPU check, one command through the device tool, from the repository root on a bare
# machine with the repository's files (no venv): GPT-2 124M (T 1024, bf16), BERT-base (T 512) and GPT-2
# 124M with document masking (FlexAttention) on one GPU: tokens/s, MFU, peak memory. About 5 to 7 minutes
# on one H200, compilation included; it stops itself before 8 (GPU_BUDGET_S, default 450 s).
#
#   run: bash bench/gpu.sh  (device tool: timeout_s 540)   results: $OUT/gpu.json (rewritten as each stage finishes),
#                                     $OUT/gpu.log (everything printed), $OUT/NAME.log.jsonl per run
#
# It always reports: gpu.json exists from the first second and says how far it got and why it stopped.
# 1. A python whose torch sees CUDA: python3, python, /opt/torch/.venv/bin/python3 (the device image's).
#    If none: wheels carried in .whl/ are installed into /tmp/site (pip --no-index), else pip may try
#    an index (for machines that reach one; the device machine reaches none), each under a timeout.
# 2. The Python modules the trainer needs (pyarrow, yaml, xxhash, tokenizers, numpy), checked up front.
# 3. bench/train_gpu.py: the C compiler and triton checked, one compiled smoke step, eager for every run
#    when either is missing or the step fails (and says so), then the three runs, each in its own process
#    with a timeout; a compiled run that fails is run again eager.
# `bash bench/gpu.sh --dry-run` does all of it on a CPU (a torch without CUDA will do; no pip), small.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/runs/gpu-check}
BUDGET=${GPU_BUDGET_S:-450}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu.log") 2>&1
START=$SECONDS
DRY=0; [ "${1:-}" = "--dry-run" ] && DRY=1
NOTES=""
say() { echo "[gpu.sh +$((SECONDS - START))s] $*"; NOTES+="$*"$'\n'; }
# What is known so far, as JSON, until train_gpu.py takes gpu.json over (no python needed to write it).
status_json() {
  local status=$1 error=${2:-}
  printf '{"status": "%s", "error": "%s", "gpu_sh_notes": "%s"}\n' "$status" "${error//\"/\'}" \
    "$(printf '%s' "$NOTES" | tr '\n"' "|'")" > "$OUT/gpu.json"
}
status_json "gpu.sh: starting"

if command -v nvidia-smi >/dev/null; then
  say "nvidia-smi: $(timeout 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -3)"
else
  say "nvidia-smi: not found"
fi

has_cuda_torch() {  # $1: a python; prints torch's version and device when it sees CUDA
  timeout 120 "$1" -c 'import torch, sys; ok = torch.cuda.is_available(); print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name() if ok else "no CUDA device"); sys.exit(0 if ok or sys.argv[1] == "1" else 1)' "$DRY" 2>&1 | tail -1
}
PY=""
for candidate in python3 python /opt/torch/.venv/bin/python3; do
  command -v "$candidate" >/dev/null || continue
  found=$(has_cuda_torch "$candidate") && { PY=$(command -v "$candidate"); say "python: $PY, torch $found"; break; }
  say "python: $candidate has no usable CUDA torch: $found"
done
if [ -z "$PY" ] && [ "$DRY" = 1 ]; then
  say "dry run: no python with torch; no install attempted"; status_json "failed" "dry run: no torch"; exit 2
fi
if [ -z "$PY" ]; then
  BASE=$(command -v python3 || command -v python || true)
  if [ -z "$BASE" ]; then
    say "no python at all"; status_json "failed" "no python3 on this machine"; exit 2
  fi
  if ls .whl/torch-*.whl >/dev/null 2>&1; then
    say "installing the wheels in .whl/ into /tmp/site"
    timeout 300 "$BASE" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} || say "wheel install failed or timed out"
  else
    say "no .whl/ wheels; trying pip install torch (needs an index; a few minutes at most)"
    timeout 240 "$BASE" -m pip install -q --retries 1 --timeout 20 torch || say "pip install torch failed or timed out"
  fi
  found=$(has_cuda_torch "$BASE") && { PY=$BASE; say "python: $PY, torch $found"; }
fi
if [ -z "$PY" ]; then
  say "no python with torch that sees a CUDA device: nothing to measure"
  status_json "failed" "no torch with CUDA (see gpu_sh_notes)"; exit 2
fi

missing=$(timeout 120 "$PY" -c '
import importlib.util as u
print(" ".join(m for m in ("numpy", "pyarrow", "yaml", "xxhash", "tokenizers", "safetensors") if u.find_spec(m) is None))' 2>&1)
if [ -n "$missing" ]; then
  say "missing Python modules: $missing (carry them as wheels in .whl/)"
  status_json "failed" "missing Python modules: $missing"; exit 2
fi

LEFT=$((BUDGET - (SECONDS - START)))
say "bench/train_gpu.py with $((LEFT - 20)) s"
export GPU_SH_NOTES="$NOTES"
# Its own limit under the budget: a hang must not spend the whole device call. train_gpu.py writes
# gpu.json itself from here on, after every stage.
timeout --kill-after=10 "$LEFT" "$PY" -u bench/train_gpu.py --out "$OUT" --budget $((LEFT - 20)) "$@"
code=$?
say "train_gpu.py exit code $code, $((SECONDS - START)) s in all"
if [ $code -eq 124 ] || [ $code -eq 137 ]; then  # killed at the budget: gpu.json keeps what finished
  timeout 60 "$PY" -c 'import json, sys; p = sys.argv[1]; d = json.load(open(p)); d["status"] = "stopped at the budget of gpu.sh: what finished is here"; json.dump(d, open(p, "w"), indent=1)' "$OUT/gpu.json" \
    || say "could not mark gpu.json"
fi
[ -s "$OUT/gpu.json" ] || status_json "failed" "train_gpu.py wrote no gpu.json (exit code $code)"
exit $code
