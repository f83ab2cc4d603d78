"""GPU throughput and MFU of the trainer: GPT-2 124M and BERT-base on one GPU (run by bench/gpu.sh).

    python3 bench/train_gpu.py --out DIR [--steps 60]

Token shards of uniformly random ids (throughput does not depend on what the tokens say; the loader's
own speed is measured by bench/train_cpu.py) in the trainer's format, then `trainer.train` with
configs/train/gpt2-124m.yaml and bert-base.yaml (bf16 autocast, torch.compile), no gradient
accumulation, evaluation and checkpoints off. Prints the median tokens per second and MFU over the
steps after compilation and warm-up. DIR/gpu.json is rewritten after every run, a failed run is
recorded with its traceback and the next one still runs, and each run's log.jsonl is copied to DIR.
"""

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import traceback
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from schemas.tokens import FORMAT, token_schema  # noqa: E402
from trainer.tokenizer import SPECIAL_TOKENS  # noqa: E402

VOCAB = 50257
RUNS = [("gpt2-124m", "configs/train/gpt2-124m.yaml", ["data.micro_batch=32", "data.global_batch=32"]),
        ("bert-base", "configs/train/bert-base.yaml", ["data.micro_batch=64", "data.global_batch=64"]),
        # What document masking costs: SDPA with a dense boolean mask instead of the causal flash kernel.
        ("gpt2-124m-document-masking", "configs/train/gpt2-124m.yaml",
         ["data.micro_batch=32", "data.global_batch=32", "data.document_masking=true"])]


def random_shards(out: Path, tokens: int) -> Path:
    rng = np.random.default_rng(0)
    manifest = {"format": FORMAT, "tokenizer": {"fingerprint": "random", "vocab_size": VOCAB,
                                                          "special_tokens": {t: i for i, t in enumerate(SPECIAL_TOKENS)}},
                "splits": {}}
    for split, n_tokens in (("train", tokens), ("heldout", tokens // 100)):
        lengths = rng.integers(200, 3000, size=n_tokens // 1600)
        ids = [rng.integers(len(SPECIAL_TOKENS), VOCAB, size=n, dtype=np.uint16) for n in lengths]
        rows = {"id": [f"{split}{i:012d}" for i in range(len(ids))], "source": ["random"] * len(ids),
                "input_ids": ids, "n_tokens": [int(n) for n in lengths]}
        (out / split).mkdir(parents=True, exist_ok=True)
        path = out / split / "part-00000-of-00001.parquet"
        pq.write_table(pa.Table.from_pydict(rows, schema=token_schema(VOCAB)), path, compression="zstd",
                       row_group_size=4096)
        manifest["splits"][split] = {"rows": len(ids), "tokens": int(lengths.sum()),
                                     "files": [{"path": f"{split}/{path.name}", "rows": len(ids),
                                                "tokens": int(lengths.sum())}]}
    manifest["fingerprint"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--dry-run", action="store_true",
                        help="a few fp32 steps of small batches without compile: checks the script on a CPU")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from trainer.config import load_config
    from trainer.train import train

    data = random_shards(Path("/tmp/gpu-tokens"), 2_000_000 if args.dry_run else 60_000_000)
    results = {}
    for name, config_file, settings in RUNS:
        speed = (["data.micro_batch=2", "data.global_batch=2", "train.dtype=fp32", "train.compile=off"]
                 if args.dry_run else [*settings, "train.dtype=bf16", "train.compile=on"])
        config = load_config(str(REPO / config_file), [
            *speed, f"train.max_steps={args.steps}", "train.log_every=5", "train.eval_every=0",
            "train.eval_sequences=0", "train.checkpoint_every=0", "train.save_final=false",
            "train.progress=false", "train.tensorboard=false"])
        run_dir = Path("/tmp/gpu-runs") / name
        shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, not a resume
        try:
            train(config, str(data), str(run_dir))
            results[name] = summarise(run_dir / "log.jsonl")
            print(f"{name}: {results[name]['tokens_per_s']:,.0f} tokens/s, MFU {results[name]['mfu']}", flush=True)
        except Exception:
            results[name] = {"error": traceback.format_exc()}
            print(f"{name} failed:\n{results[name]['error']}", flush=True)
        if (run_dir / "log.jsonl").exists():
            shutil.copyfile(run_dir / "log.jsonl", out / f"{name}.log.jsonl")
        (out / "gpu.json").write_text(json.dumps(results, indent=1, default=str))
    return 1 if any("error" in r for r in results.values()) else 0


def summarise(log_file: Path) -> dict:
    """Median tokens/s and MFU over the logged intervals after the first two (compilation, warm-up)."""
    log = [json.loads(line) for line in log_file.read_text().splitlines()]
    logged = [r for r in log if "tokens_per_s" in r]
    intervals = logged[2:] or logged[-1:]
    mfu = [r["mfu"] for r in intervals if r.get("mfu") is not None]
    return {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in intervals),
            "mfu": statistics.median(mfu) if mfu else None, "intervals": len(intervals), "config": log[0]}


if __name__ == "__main__":
    sys.exit(main())
