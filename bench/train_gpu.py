"""GPU check of the trainer: GPT-2 124M, BERT-base and GPT-2 124M with document masking on one GPU
(run by bench/gpu.sh), built to report something whatever fails.

    python3 bench/train_gpu.py [--out DIR] [--steps 40] [--budget 440] [--compile auto|on|off] [--work DIR]
    python3 bench/train_gpu.py --dry-run [--out DIR]     # the same stages and three runs on a CPU, small

Stages, each written into DIR/gpu.json as soon as it finishes (rewritten whole, atomically):
1. environment: python, torch, CUDA and the device, the C compiler Inductor's Triton launcher needs,
   triton, nvidia-smi, and gpu.sh's notes (GPU_SH_NOTES).
2. data: token shards of uniformly random ids in the trainer's format (throughput does not depend on
   what the tokens say; bench/train_cpu.py measures the loader), in --work: a fresh temporary folder
   by default, removed at the end, never DIR (whose files come back from the device machine).
3. compile: with a C compiler and triton, one compiled bf16 step of a small GPT in its own process
   (a timeout); if anything is missing or the step fails, every run is eager and gpu.json says why.
4. runs: `python -m trainer.train` in its own process each (configs/train/gpt2-124m.yaml, bert-base.yaml,
   and gpt2-124m.yaml with data.document_masking=true), bf16, no accumulation, evaluation and
   checkpoints off, each with a timeout from what is left of --budget. A compiled run that fails is
   run again eager, if time is left, and says so. The median tokens/s and MFU over the logged intervals
   after the first two (compilation, warm-up), the peak memory, and the run's own config record (its
   first log line) go into gpu.json; each run's log.jsonl is copied to DIR/NAME.log.jsonl.

--dry-run: the same stages and runs on the CPU, for real but small (2 layers, d 64, T 64, 3 steps,
two micro-batches a step, a loader worker), fp32 and eager, with short documents so that the
document-masking run has several documents in a window. Exit code 0 when every run gave numbers.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
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
# (name, config, settings on one GPU)
RUNS = [("gpt2-124m", "configs/train/gpt2-124m.yaml", ["data.micro_batch=32", "data.global_batch=32"]),
        ("bert-base", "configs/train/bert-base.yaml", ["data.micro_batch=64", "data.global_batch=64"]),
        # What document masking costs: FlexAttention's block mask (compiled) instead of the causal flash kernel.
        ("gpt2-124m-document-masking", "configs/train/gpt2-124m.yaml",
         ["data.micro_batch=32", "data.global_batch=32", "data.document_masking=true"])]
COMMON = ["train.log_every=5", "train.eval_every=0", "train.eval_sequences=0", "train.checkpoint_every=0",
          "train.save_final=false", "train.progress=false", "train.tensorboard=false"]
DRY = ["model.n_layer=2", "model.n_head=2", "model.d_model=64", "model.max_seq_len=64", "data.seq_len=64",
       "data.micro_batch=2", "data.global_batch=4", "data.workers=1", "train.log_every=1"]
SMOKE = ["model.n_layer=2", "model.n_head=4", "model.d_model=256", "model.max_seq_len=128", "data.seq_len=128",
         "data.micro_batch=8", "data.global_batch=8", "data.workers=0", "train.max_steps=2", "train.log_every=1"]


class Report:
    """gpu.json: rewritten whole after every stage, through a temporary file and a rename."""

    def __init__(self, path: Path):
        self.path, self.started = path, time.time()
        self.data = {"status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": {}}
        self.write()

    def write(self) -> None:
        self.data["elapsed_s"] = round(time.time() - self.started, 1)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.data, indent=1, default=str))
        os.replace(temporary, self.path)


def say(message: str) -> None:
    print(f"[train_gpu {time.strftime('%H:%M:%S')}] {message}", flush=True)


def environment() -> dict:
    import torch

    env = {"python": sys.executable, "python_version": platform.python_version(), "torch": torch.__version__,
           "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
           "gpu_sh_notes": os.environ.get("GPU_SH_NOTES", "").strip().splitlines()}
    if torch.cuda.is_available():
        env["device"] = torch.cuda.get_device_name()
        env["capability"] = ".".join(map(str, torch.cuda.get_device_capability()))
        env["memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    compilers = [os.environ.get("CC", ""), "cc", "gcc", "clang"]
    env["c_compiler"] = next((shutil.which(c) for c in compilers if c and shutil.which(c)), None)
    try:
        import triton

        env["triton"] = triton.__version__
    except Exception as e:  # absent, or broken
        env["triton"] = None
        env["triton_error"] = f"{type(e).__name__}: {e}"
    if shutil.which("nvidia-smi"):
        try:
            env["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=30).stdout.strip()
        except Exception as e:
            env["nvidia_smi"] = f"failed: {e}"
    return env


def random_shards(out: Path, tokens: int, lengths: tuple[int, int]) -> Path:
    rng = np.random.default_rng(0)
    manifest = {"format": FORMAT, "tokenizer": {"fingerprint": "random", "vocab_size": VOCAB,
                                                          "special_tokens": {t: i for i, t in enumerate(SPECIAL_TOKENS)}},
                "splits": {}}
    for split, n_tokens in (("train", tokens), ("heldout", max(tokens // 100, 10 * lengths[1]))):
        sizes = rng.integers(lengths[0], lengths[1], size=max(2, 2 * n_tokens // sum(lengths)))
        ids = [rng.integers(len(SPECIAL_TOKENS), VOCAB, size=n, dtype=np.uint16) for n in sizes]
        rows = {"id": [f"{split}{i:012d}" for i in range(len(ids))], "source": ["random"] * len(ids),
                "input_ids": ids, "n_tokens": [int(n) for n in sizes]}
        (out / split).mkdir(parents=True, exist_ok=True)
        path = out / split / "part-00000-of-00001.parquet"
        pq.write_table(pa.Table.from_pydict(rows, schema=token_schema(VOCAB)), path, compression="zstd",
                       row_group_size=1024)
        manifest["splits"][split] = {"rows": len(ids), "tokens": int(sizes.sum()),
                                     "files": [{"path": f"{split}/{path.name}", "rows": len(ids),
                                                "tokens": int(sizes.sum())}]}
    manifest["fingerprint"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def train_process(config: str, settings: list[str], data: Path, run_dir: Path, timeout: float) -> dict:
    """`python -m trainer.train` in its own process group, killed whole (loader workers too) at the
    timeout. Returns {ok, seconds, returncode or timeout, output tail}."""
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, not a resume
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-u", "-m", "trainer.train", "--config", str(REPO / config), "--data", str(data),
               "--out", str(run_dir)]
    for setting in settings:
        command += ["--set", setting]
    output = run_dir.parent / f"{run_dir.name}.out"
    started = time.time()
    with open(output, "w") as sink:
        process = subprocess.Popen(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            returncode, timed_out = process.wait(timeout=max(timeout, 1)), False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            returncode, timed_out = process.wait(), True
    result = {"ok": returncode == 0 and not timed_out, "seconds": round(time.time() - started, 1)}
    if timed_out:
        result["timeout_s"] = round(timeout)
    else:
        result["returncode"] = returncode
    if not result["ok"]:
        result["output_tail"] = output.read_text(errors="replace")[-4000:]
    return result


def summarise(log_file: Path) -> dict:
    """Median tokens/s and MFU over the logged intervals after the first two (compilation, warm-up)."""
    log = [json.loads(line) for line in log_file.read_text().splitlines()]
    logged = [r for r in log if "tokens_per_s" in r]
    intervals = logged[2:] or logged[-1:]
    mfu = [r["mfu"] for r in intervals if r.get("mfu") is not None]
    memory = [r["max_memory_gib"] for r in logged if "max_memory_gib" in r]
    config = log[0]
    return {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in intervals) if intervals else None,
            "mfu": statistics.median(mfu) if mfu else None, "intervals": len(intervals),
            "steps": logged[-1]["step"] if logged else 0, "last_loss": logged[-1]["loss"] if logged else None,
            "max_memory_gib": max(memory) if memory else None, "compile": config.get("compile"),
            "dtype": config.get("dtype"), "attention": config.get("attention"), "device": config.get("device"),
            "config": config}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or str(REPO / "runs" / "gpu-check"),
                        help="gpu.json and the runs' logs, nothing large (default: $OUT, else runs/gpu-check)")
    parser.add_argument("--work", help="token shards and run folders (default: a new temporary folder, removed after)")
    parser.add_argument("--steps", type=int, help="steps a run (default 40; 3 with --dry-run)")
    parser.add_argument("--budget", type=float, default=440, help="seconds for everything; runs get what is left")
    parser.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                        help="auto: compiled if a C compiler and triton are there and the smoke step passes")
    parser.add_argument("--dry-run", action="store_true",
                        help="the same stages and runs on a CPU, small, fp32 and eager: checks the script")
    args = parser.parse_args(argv)
    deadline = time.time() + args.budget
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out / "gpu.json")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="train-gpu-"))
    try:
        return _main(args, out, work, report, deadline)
    except BaseException as e:
        report.data["status"] = "failed"
        report.data["error"] = "".join(traceback.format_exception(e))[-4000:]
        report.write()
        raise
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def _main(args, out: Path, work: Path, report: Report, deadline: float) -> int:
    steps = args.steps or (3 if args.dry_run else 40)
    say("environment")
    env = report.data["environment"] = environment()
    report.write()
    say(json.dumps({k: v for k, v in env.items() if k != "gpu_sh_notes"}))
    if not args.dry_run and not env["cuda_available"]:
        report.data.update(status="failed", error="torch sees no CUDA device (use --dry-run on a CPU)")
        report.write()
        say(report.data["error"])
        return 2

    say("data")
    began = time.time()
    windows = max(steps * 64 * 513, steps * 32 * 1025)
    data = random_shards(work / "tokens", 20_000 if args.dry_run else int(windows * 1.2) + 100_000,
                         (10, 100) if args.dry_run else (200, 3000))
    report.data["data"] = {"seconds": round(time.time() - began, 1), "path": "--work (removed after)"}
    report.write()

    # Compiled or eager, and why.
    precision = ["train.dtype=fp32", "train.compile=off"] if args.dry_run else ["train.dtype=bf16"]
    if args.dry_run:
        compiled, why = False, "dry run: CPU, eager"
    elif args.compile == "off":
        compiled, why = False, "--compile off"
    elif not env["c_compiler"] and args.compile == "auto":
        compiled, why = False, "no C compiler (cc, gcc, clang or $CC): Inductor's Triton launcher needs one"
    elif not env["triton"] and args.compile == "auto":
        compiled, why = False, f"triton does not import ({env.get('triton_error')})"
    else:
        compiled, why = True, "compile smoke step passed"
    say("smoke step" + (" (compiled)" if compiled else " (eager)"))
    smoke = train_process("configs/train/tiny.yaml", [*COMMON, *SMOKE, *(DRY if args.dry_run else []), *precision,
                                                        f"train.compile={'on' if compiled else 'off'}"],
                          data, work / "runs" / "smoke", min(240, deadline - time.time() - 60))
    report.data["smoke"] = smoke
    if compiled and not smoke["ok"] and args.compile == "auto":
        compiled, why = False, "the compile smoke step failed (smoke.output_tail): every run eager"
    report.data["compile"] = {"used": compiled, "why": why}
    report.write()
    say(f"compile: {compiled} ({why})")

    for index, (name, config, settings) in enumerate(RUNS):
        runs_left = len(RUNS) - index
        speed = [*settings, *DRY] if args.dry_run else settings  # the run's own settings, then small
        attempts = []
        for mode in (["on", "off"] if compiled else ["off"]):
            left = deadline - time.time() - 5
            if left < 20:
                attempts.append({"skipped": f"{max(left, 0):.0f} s left of --budget"})
                break
            share = left / runs_left if mode == "on" else left / max(runs_left - 0.5, 1)
            say(f"{name}: {'compiled' if mode == 'on' else 'eager'}, up to {share:.0f} s")
            settings_all = [*COMMON, *speed, *precision, f"train.max_steps={steps}"]
            if not args.dry_run:
                settings_all.append(f"train.compile={mode}")
            attempt = train_process(config, settings_all, data, work / "runs" / name, share)
            attempt["compile"] = mode == "on"
            log_file = work / "runs" / name / "log.jsonl"
            if log_file.exists():
                shutil.copyfile(log_file, out / f"{name}.log.jsonl")
                try:
                    attempt["summary"] = summarise(log_file)
                except Exception as e:  # a torn log: the run's error says more
                    attempt["summary_error"] = repr(e)
            attempts.append(attempt)
            report.data["runs"][name] = {"attempts": attempts}
            report.write()
            if attempt["ok"]:
                break
            say(f"{name} failed" + (": again, eager" if mode == "on" else "") + "\n" + attempt.get("output_tail", "")[-1500:])
        result = {"attempts": attempts}
        good = next((a for a in attempts if a.get("ok") and "summary" in a), None)
        if good:
            result.update({k: v for k, v in good["summary"].items() if k != "config"})
            result["fell_back_to_eager"] = compiled and not good["compile"]
            say(f"{name}: {result['tokens_per_s']:,.0f} tokens/s, MFU {result['mfu']}, "
                f"{'compiled' if good['compile'] else 'eager'}, {result['attention']}")
        else:
            result["error"] = "no attempt finished (see attempts)"
        report.data["runs"][name] = result
        report.write()
    ok = all("error" not in r for r in report.data["runs"].values())
    report.data["status"] = "done" if ok else "done, with failures"
    report.write()
    say(report.data["status"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
