"""Trainer speed on CPU, side by side in one run:

    python bench/train_cpu.py [--data TOKENS_DIR] [--data-dir ../shared/data] [--steps 30]

1. Our trainer (trainer.train: streaming loader from Parquet, objective, accumulation, clipping,
   schedule, logging) against a plain nanoGPT-style loop (the same Transformer, AdamW, clipping, the
   same batches already in memory, nothing else) on the same model and batch: tokens per second, and
   the ratio (target: at least 1.0x).
2. The loader alone (PretrainLoader over the token shards, no model): tokens per second, and how many
   times the trainer's consumption it can feed (target: at least 20x).

Without --data, token shards are made first from ../shared/data (Wikipedia and Gutenberg, curated with
filters off, an 8,192-token BPE). Both loops use all cores torch sees and fp32.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from trainer.config import load_config  # noqa: E402
from trainer.data.loader import PretrainLoader, SequenceDataset  # noqa: E402
from trainer.data.shards import TokenShards  # noqa: E402
from trainer.train import build_model, train  # noqa: E402

MODEL = ["model.n_layer=4", "model.n_head=4", "model.d_model=256", "model.max_seq_len=256", "data.seq_len=256", "data.global_batch=16",
         "data.micro_batch=16", "train.eval_sequences=0", "train.progress=false", "train.tensorboard=false",
         "train.checkpoint_every=0", "train.save_final=false", "train.eval_every=0", "optim.warmup_steps=5"]


def make_tokens(data_dir: Path, work: Path) -> Path:
    run, tokens, tok, recipe = work / "run", work / "tokens", work / "tok.json", work / "recipe.yaml"
    recipe.write_text(json.dumps({"sources": [  # JSON is YAML
        {"name": "wiki", "type": "wikipedia", "glob": f"{data_dir}/enwiki_xml_dump_sample/*.bz2"},
        {"name": "books", "type": "gutenberg", "glob": f"{data_dir}/gutenberg_en/*.txt"}]}))
    for command in (
        ["-m", "pipelines.curate", "--config", str(recipe), "--output", str(run), "--filters", "none",
         "--dedup", "exact", "--no-pii"],
        ["-m", "trainer.tokenizer", "--input", str(run), "--output", str(tok), "--vocab-size", "8192"],
        ["-m", "pipelines.tokenize", "--input", str(run), "--tokenizer", str(tok), "--output", str(tokens),
         "--heldout-fraction", "0.05"],
    ):
        subprocess.run([sys.executable, *command], cwd=REPO, check=True, capture_output=True)
    return tokens


def ours(data: Path, steps: int, work: Path) -> float:
    config = load_config(str(REPO / "configs/train/tiny.yaml"), [*MODEL, f"train.max_steps={steps}",
                                                                   "train.log_every=1"])
    out = work / "ours"
    train(config, str(data), str(out))
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    rates = [r["tokens_per_s"] for r in log if "tokens_per_s" in r][3:]  # after warm-up
    return statistics.median(rates)


def plain(data: Path, steps: int) -> float:
    """nanoGPT's loop: model(x, y), backward, clip, step, zero_grad, on batches prepared in memory."""
    config = load_config(str(REPO / "configs/train/tiny.yaml"), MODEL)
    dataset = SequenceDataset(TokenShards(str(data)), config.data.seq_len, seed=config.train.seed)
    loader = iter(PretrainLoader(dataset, config.data.global_batch, config.data.micro_batch))
    batches = [next(loader)["input_ids"] for _ in range(steps)]
    torch.manual_seed(config.train.seed)
    model = build_model(config, dataset.shards.tokenizer["vocab_size"])
    optimizer = model.configure_optimizer(0.1, 3e-3, (0.9, 0.99), "cpu")
    times = []
    for ids in batches:
        start = time.perf_counter()
        ids = ids.long()  # the loader's batches are int32; the trainer widens them in its step too
        loss = model(ids[:, :-1], targets=ids[:, 1:]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    tokens = config.data.global_batch * config.data.seq_len
    return tokens / statistics.median(times[3:])


def loader_alone(data: Path, steps: int) -> float:
    config = load_config(str(REPO / "configs/train/tiny.yaml"), MODEL)
    dataset = SequenceDataset(TokenShards(str(data)), config.data.seq_len, seed=config.train.seed)
    loader = PretrainLoader(dataset, 64, 64, max_steps=steps)
    start, tokens = time.perf_counter(), 0
    for batch in loader:
        tokens += batch["input_ids"].shape[0] * config.data.seq_len
    return tokens / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="token shards (default: made from --data-dir)")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternate the two loops this many times and compare medians (a shared machine is noisy)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = Path(args.data) if args.data else make_tokens(Path(args.data_dir), work)
        result = {"threads": torch.get_num_threads(), "model": MODEL}
        plain_rates, our_rates = [], []
        for i in range(args.repeats):
            plain_rates.append(plain(data, args.steps))
            our_rates.append(ours(data, args.steps, work / f"ours-{i}"))
        result["plain_runs"], result["ours_runs"] = plain_rates, our_rates
        result["plain_tokens_per_s"] = statistics.median(plain_rates)
        result["ours_tokens_per_s"] = statistics.median(our_rates)
        result["loader_tokens_per_s"] = loader_alone(data, 200)
    ratio = result["ours_tokens_per_s"] / result["plain_tokens_per_s"]
    feed = result["loader_tokens_per_s"] / result["ours_tokens_per_s"]
    print(f"\nGPT, 4 layers, d 256, T 256, batch 16, fp32 on {result['threads']} CPU threads "
          f"(medians of {args.repeats} alternating runs):")
    print(f"  plain nanoGPT-style loop  {result['plain_tokens_per_s']:10,.0f} tokens/s")
    print(f"  our trainer               {result['ours_tokens_per_s']:10,.0f} tokens/s   {ratio:.2f}x the plain loop")
    print(f"  our loader alone          {result['loader_tokens_per_s']:10,.0f} tokens/s   {feed:.0f}x what the trainer consumes")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
