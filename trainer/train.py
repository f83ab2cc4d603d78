"""Pretrain a Transformer on token shards: GPT-style next-token prediction or BERT-style masked LM.

    python -m trainer.train --config configs/train/tiny.yaml --data TOKENS_DIR --out RUN_DIR [--set k=v ...]
    torchrun --nproc-per-node 8 -m trainer.train ...      # DDP (or --set train.distributed=fsdp)

`--data` is a token-shard directory (python -m pipelines.tokenize), or a curation run with
`--tokenizer FILE` (tokenised on the fly; no held-out split then). The run directory gets
`log.jsonl` (one line per logged step and per evaluation), `tb/` (TensorBoard), `checkpoints/`
(atomic, the newest `keep_last`), `tokenizer.json`, and `model.safetensors` at the end. Started
again with the same `--out`, a run resumes from its newest checkpoint; the loader's state is a
sequence count, so it resumes on any number of ranks that divides the global batch, and a checkpoint
of another configuration (config hash) or other data (fingerprint) is refused.

Determinism: the data order is a pure function of (data fingerprint, seed, sequence length, mixture);
MLM masks are keyed by (seed, sequence id); dropout is reseeded from (seed, step, rank) every step. On
CPU in fp32, k steps + resume + N-k steps give bit-identical losses to N steps in one go.
"""

import json
import math
import os
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import xxhash
from torch.utils.data import default_collate

from schemas.errors import OneLineParser, UsageError, cli_main
from schemas.tokens import FORMAT
from trainer import checkpoint, distributed
from trainer.config import ConfigError, RunConfig, config_hash, load_config
from trainer.data.loader import PretrainLoader, SequenceDataset
from trainer.data.shards import TokenShards, filesystem
from trainer.masking import mask_batch
from trainer.metrics import Throughput, TrainingLog, device_peak_flops
from trainer.model import IGNORE_INDEX, ModelConfig, Transformer


def lr_at(step: int, config: RunConfig) -> float:
    """Linear warmup, then cosine decay to lr * min_lr_ratio at max_steps."""
    o, total = config.optim, config.train.max_steps
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    progress = min(1.0, (step - o.warmup_steps) / max(1, total - o.warmup_steps))
    return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


class Collate:
    """The loader's collate: stacks a micro-batch (int32 ids), adds its digest (`batch_digest`) and its
    number of targets, and for MLM masks it. It runs in the DataLoader's workers, so this host work
    overlaps the training step instead of running between steps; the main thread only starts the copy.
    Masks are keyed by (seed, sequence id), so they are the same wherever this runs. Everything stays
    int32 (half the bytes of int64 to copy) and is widened on the device (`Objective.inputs`)."""

    def __init__(self, kind: str, seed: int, specials: list[int], vocab_size: int, mask_id: int | None,
                 rate: float):
        self.kind, self.seed, self.specials, self.vocab_size = kind, seed, specials, vocab_size
        self.mask_id, self.rate = mask_id, rate

    def __call__(self, items: list[dict]) -> dict:
        batch = default_collate(items)
        ids = batch["input_ids"].numpy()
        batch["digest"] = batch_digest(ids)
        if self.kind == "clm":
            batch["n_targets"] = ids.shape[0] * (ids.shape[1] - 1)  # every next token is a target
            return batch
        masked, labels, positions = mask_batch(ids, self.seed, batch["seq_id"].numpy(), self.specials,
                                               self.vocab_size, self.mask_id, self.rate)
        batch.update(masked_ids=torch.from_numpy(masked.astype(np.int32, copy=False)),
                     labels=torch.from_numpy(labels.astype(np.int32)),
                     mlm_positions=torch.from_numpy(positions.astype(np.int32)), n_targets=len(positions))
        return batch


MaskingCollate = Collate  # the earlier name


class Objective:
    """A loader batch -> the model's inputs and its loss: next token (clm) or masked tokens (mlm).
    `collate` makes the loader's batches (masked ones for mlm)."""

    def __init__(self, config: RunConfig, tokenizer: dict, device: torch.device):
        self.kind, self.seed, self.device = config.objective, config.train.seed, device
        self.document_masking, self.rate = config.data.document_masking, config.data.mlm_rate
        self.vocab_size = tokenizer["vocab_size"]
        self.specials = sorted(tokenizer["special_tokens"].values())
        # Only MLM needs [MASK]: next-token training runs on any tokenizer with a separator.
        self.mask_id = tokenizer["special_tokens"]["[MASK]"] if self.kind == "mlm" else None
        self.collate = Collate(self.kind, self.seed, self.specials, self.vocab_size, self.mask_id, self.rate)

    def window(self, seq_len: int) -> int:
        return seq_len + 1 if self.kind == "clm" else seq_len

    def inputs(self, batch: dict) -> tuple[dict, int]:
        """(the model's inputs on the device, how many targets they hold). Each tensor of the batch is
        copied once, whole and as it is (contiguous, int32, pinned on CUDA: non-blocking), then widened
        and sliced on the device: a causal window [B, T+1] gives inputs [:, :-1] and targets [:, 1:]
        there, never as strided int64 copies on the host. The count comes from `collate`."""
        def to_device(name):
            return batch[name].to(self.device, non_blocking=True)

        if self.kind == "clm":
            ids = to_device("input_ids").long()
            out = {"input_ids": ids[:, :-1], "targets": ids[:, 1:]}
        else:  # masked by `collate`
            out = {"input_ids": to_device("masked_ids").long(), "targets": to_device("labels").long(),
                   "mlm_positions": to_device("mlm_positions").long()}
            # Their number changes from batch to batch: compiled once for any count, not again at the second.
            torch._dynamo.maybe_mark_dynamic(out["mlm_positions"], 0)
        if self.document_masking:
            doc_ids = to_device("doc_ids")
            out["doc_ids"] = doc_ids[:, :-1] if self.kind == "clm" else doc_ids
        targets = batch.get("n_targets")
        if targets is None:  # a batch not made by `collate`
            targets = int((out["targets"] != IGNORE_INDEX).sum())
        return out, int(targets)

    def head_fraction(self) -> float:
        return self.rate if self.kind == "mlm" else 1.0


_DIGEST_MOD = 2_147_483_647


def batch_digest(input_ids) -> int:
    """Order-free digest of a batch's sequences (sum of their hashes mod a prime): summed over the
    micro-batches and ranks of a step, it names the step's global batch whatever the world size. Each
    row is hashed as int64, whatever dtype it arrives in, so digests do not depend on the copy's width."""
    rows = np.asarray(input_ids).astype(np.int64, copy=False)
    return sum(xxhash.xxh64_intdigest(row.tobytes()) % _DIGEST_MOD for row in rows) % _DIGEST_MOD


def autocast_for(device_type: str, dtype: str):
    """The forward's autocast on this run's device: bf16 on CUDA or CPU alike, nothing in fp32."""
    if dtype == "bf16":
        return lambda: torch.autocast(device_type, dtype=torch.bfloat16)
    return nullcontext


def clip_gradients(parameters, grad_clip: float) -> torch.Tensor:
    """Clip the gradients' global norm to grad_clip and return the norm before clipping. grad_clip 0
    (nanoGPT's convention) or inf is no clipping: the norm is measured, the gradients left as they are.
    (clip_grad_norm_(max_norm=0) would zero them all: the run would stay at its initial loss.)"""
    return torch.nn.utils.clip_grad_norm_(parameters, grad_clip if grad_clip > 0 else math.inf)


def loss_scale(local_targets: int, runtime: distributed.Runtime) -> float | torch.Tensor:
    """What a micro-batch's summed loss is multiplied by so that the step's gradient is that of the mean
    over every target of the global batch, however it is split into micro-batches and ranks (MLM's
    masked counts differ between them): world_size / all the step's targets, since DDP and FSDP
    average the ranks' gradients. On a device it stays there (no host sync)."""
    total = runtime.sum_on_device(float(local_targets))
    if torch.is_tensor(total):
        return (runtime.world_size / total.clamp(min=1)).float()
    return 1.0 / max(total, 1.0)


def accumulate_gradients(wrapped, micro_batches: list[dict], scale, autocast=nullcontext) -> torch.Tensor:
    """Forward and backward over one step's micro-batches, each summed loss times `scale`
    (`loss_scale`); under DDP the gradients are reduced once, after the last. Returns the summed
    loss, detached and on the device."""
    loss_sum = 0.0
    for micro, inputs in enumerate(micro_batches):
        sync = micro == len(micro_batches) - 1 or not hasattr(wrapped, "no_sync")
        with (nullcontext() if sync else wrapped.no_sync()), autocast():
            loss = wrapped(**inputs, loss_reduction="sum").loss
        (loss * scale).backward()
        loss_sum = loss_sum + loss.detach()
    return loss_sum


def build_model(config: RunConfig, vocab_size: int) -> Transformer:
    settings = {"max_seq_len": config.data.seq_len, **config.model, "vocab_size": vocab_size,
                "arch": "decoder" if config.objective == "clm" else "encoder"}
    return Transformer(ModelConfig(**settings))


@torch.no_grad()
def evaluate(model, objective: Objective, dataset: SequenceDataset | None, sequences: int, micro_batch: int,
             runtime: distributed.Runtime, autocast) -> dict:
    """Loss on a fixed set of held-out sequences (the first `sequences` of the held-out order, rounded
    up to a multiple of the world size), split evenly over the ranks, since under FSDP every rank must
    run the same forward passes: perplexity for clm, masked-token loss and accuracy for mlm."""
    if dataset is None or sequences < 1:
        return {}
    model.eval()
    per_rank = math.ceil(sequences / runtime.world_size)
    ids = list(range(runtime.rank * per_rank, (runtime.rank + 1) * per_rank))
    loss_sum = count = correct = 0.0
    for start in range(0, len(ids), micro_batch):
        batch = objective.collate([dataset[s] for s in ids[start:start + micro_batch]])
        inputs, n = objective.inputs(batch)
        with autocast():
            out = model(**inputs, loss_reduction="sum")
        if objective.kind == "mlm":
            correct += float((out.predictions == out.labels).sum())
        loss_sum += float(out.loss)
        count += n
    loss_sum, count, correct = runtime.all_reduce_sum([loss_sum, count, correct])
    model.train()
    loss = loss_sum / max(count, 1)
    if objective.kind == "clm":
        return {"eval_loss": round(loss, 5), "eval_ppl": round(math.exp(min(loss, 50)), 3), "eval_tokens": int(count)}
    return {"eval_mlm_loss": round(loss, 5), "eval_mlm_acc": round(correct / max(count, 1), 5),
            "eval_masked_tokens": int(count)}


def train(config: RunConfig, data: str, out: str, tokenizer_path: str | None = None, fallback: bool = True) -> dict:
    """`fallback`: a damaged newest checkpoint is skipped (and moved aside) for the newest intact one;
    without it, a damaged one is an error (checkpoint.CheckpointError)."""
    runtime = distributed.start()
    try:
        result = _train(config, data, Path(out), tokenizer_path, runtime, fallback)
        runtime.barrier()  # no rank tears the group down while another still talks to it
        return result
    finally:
        distributed.stop()


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _resume(root: Path, fallback: bool, runtime: distributed.Runtime) -> tuple[Path | None, dict | None, list]:
    """The checkpoint every rank resumes from: (its path, `checkpoint.load`'s dict, the damaged newer
    ones skipped, each with why), or (None, None, []) for a new run. Rank 0 alone picks it, falling back
    past damaged ones, and tells the others, which load that one; so the ranks cannot resume from
    different steps, and they make the same collective calls whatever each of them reads. An error on
    any rank is raised on every rank (the others name the checkpoint and leave the cause to that rank's)."""
    found, error = None, None
    if runtime.main:
        try:
            found = checkpoint.load_latest(root, fallback, warn=_warn)
        except Exception as e:  # raised below, once the other ranks know
            error = e
    if not runtime.distributed:
        if error is not None:
            raise error
        return found or (None, None, [])
    decision = None
    if runtime.main:
        decision = ({"error": str(error), "usage": isinstance(error, UsageError)} if error is not None else
                    {"path": str(found[0]) if found else None,
                     "skipped": [(str(path), why) for path, why in found[2]] if found else []})
    decision = runtime.broadcast(decision)
    if "error" in decision:
        if error is not None:
            raise error
        raise (checkpoint.CheckpointError if decision["usage"] else RuntimeError)(decision["error"])
    path = Path(decision["path"]) if decision["path"] else None
    saved = found[1] if found else None
    if not runtime.main and path is not None:
        try:
            saved = checkpoint.load(path)
        except Exception as e:
            error = e
    usage, other = runtime.all_reduce_sum([float(isinstance(error, UsageError)),
                                           float(error is not None and not isinstance(error, UsageError))])
    if error is not None:
        raise error
    if usage or other:
        why = f"{path}: rank 0 read it intact, but {int(usage + other)} other rank(s) could not (see their errors)"
        raise checkpoint.CheckpointError(why) if not other else RuntimeError(why)
    return path, saved, [(Path(p), why) for p, why in decision["skipped"]]


def _train(config: RunConfig, data: str, out: Path, tokenizer_path: str | None, runtime, fallback: bool = True) -> dict:
    d, t = config.data, config.train
    if d.global_batch % (runtime.world_size * d.micro_batch):
        raise ValueError(f"global_batch {d.global_batch} must be a multiple of world size {runtime.world_size} "
                         f"x micro_batch {d.micro_batch}")
    cuda = runtime.device.type == "cuda"
    dtype = "bf16" if t.dtype == "auto" and cuda else ("fp32" if t.dtype == "auto" else t.dtype)
    use_compile = t.compile == "on" or (t.compile == "auto" and cuda)

    train_shards = TokenShards(data, "train", tokenizer=tokenizer_path)
    tokenizer = train_shards.tokenizer
    objective = Objective(config, tokenizer, runtime.device)
    window = objective.window(d.seq_len)
    dataset = SequenceDataset(train_shards, d.seq_len, window=window, seed=t.seed, mixture=d.mixture)
    heldout = None
    if tokenizer_path is None and t.eval_sequences >= 1:  # token shards have a held-out split; text has none
        heldout_shards = TokenShards(data, "heldout")
        heldout_tokens = int(heldout_shards.doc_tokens.sum()) + len(heldout_shards.doc_tokens)  # with separators
        if heldout_tokens >= window:
            heldout = SequenceDataset(heldout_shards, d.seq_len, window=window, seed=t.seed)
        elif runtime.main:  # tokenized with --heldout-fraction 0, or too little of it: train, do not evaluate
            _warn(f"no held-out evaluation: the held-out split of {data} has {heldout_tokens} tokens, "
                  f"less than one window of {window}")
    loader = PretrainLoader(dataset, d.global_batch, d.micro_batch, world_size=runtime.world_size, rank=runtime.rank,
                            num_workers=d.workers, pin_memory=cuda, collate_fn=objective.collate, max_steps=t.max_steps)

    torch.manual_seed(t.seed)  # the initial weights: the same on every rank
    model = build_model(config, tokenizer["vocab_size"]).to(runtime.device)
    # Document masking on CUDA, compiled: FlexAttention (block mask, a fused kernel), with the blocks
    # compiled one by one so that the block mask is made outside them. Otherwise the dense SDPA mask.
    flex = d.document_masking and cuda and use_compile
    model.document_attention = "flex" if flex else "dense"
    attention = ("flex (document, block mask)" if flex else "sdpa (dense document mask)") if d.document_masking \
        else ("sdpa (causal)" if config.objective == "clm" else "sdpa (no mask)")
    # Wrap first: FSDP2 replaces the parameters with sharded ones, which the optimiser must hold.
    wrapped = distributed.wrap(model, runtime, t.distributed, use_compile, bf16=dtype == "bf16", compile_blocks=flex)
    optimizer = model.configure_optimizer(config.optim.weight_decay, config.optim.lr,
                                          (config.optim.beta1, config.optim.beta2), runtime.device.type)
    chash = config_hash(config)
    step, tokens_seen = 0, 0
    resume_from, saved, skipped = _resume(out / "checkpoints", fallback, runtime)
    if saved is not None:
        state = saved["state"]
        if state["config_hash"] != chash:
            raise ValueError(f"{resume_from} was trained with another configuration (hash {state['config_hash']}, "
                             f"now {chash}); use a new --out")
        distributed.load_full_state(model, optimizer, saved["model"], saved["optim"])
        loader.load_state_dict(state["loader"])
        step, tokens_seen = state["step"], state["tokens"]
    if skipped and runtime.main:  # only rank 0 read them; every rank has loaded the one it resumes from
        _warn(f"resuming from {resume_from}, the newest intact checkpoint; the damaged newer ones are moved "
              f"aside: {', '.join(str(checkpoint.set_aside(path)) for path, _ in skipped)}")

    # A resume drops what the log holds past its checkpoint: the steps a crashed run did after it are done again.
    log = TrainingLog(out, runtime.main, t.tensorboard, resume=resume_from is not None, resume_step=step)
    if runtime.main:
        out.mkdir(parents=True, exist_ok=True)
        tokenizer_file = Path(tokenizer_path or tokenizer.get("path") or "")
        if tokenizer_file.is_file():
            shutil.copyfile(tokenizer_file, out / "tokenizer.json")
    flops = model.flops_per_token(d.seq_len, objective.head_fraction())
    device_name = torch.cuda.get_device_name(runtime.device) if cuda else None
    peak = device_peak_flops(device_name, dtype)
    log.write({"event": "config", "config": config.to_json(), "config_hash": chash, "data": data,
               "data_fingerprint": train_shards.fingerprint, "tokenizer_fingerprint": tokenizer["fingerprint"],
               "world_size": runtime.world_size, "device": device_name or "cpu", "dtype": dtype, "compile": use_compile,
               "attention": attention,
               "parameters": model.num_parameters(non_embedding=False), "flops_per_token": flops,
               "peak_flops": peak, "mfu_formula": "tokens/s * (6N + 12*L*d*T) / (peak * world_size)",
               "resumed_from": str(resume_from) if resume_from else None,
               "damaged_checkpoints": [{"path": str(path), "error": why} for path, why in skipped],
               "train_order": dataset.order.summary()})

    autocast = autocast_for(runtime.device.type, dtype)
    stop_at = min(t.stop_at or t.max_steps, t.max_steps)
    # Evaluation and checkpoints are paused out of tokens/s and MFU, the GPU synchronised at both ends.
    throughput = Throughput(flops, peak, runtime.world_size, sync=torch.cuda.synchronize if cuda else None)
    tokens_per_step = d.global_batch * d.seq_len
    evals = []

    def run_eval():
        if heldout is None or t.eval_sequences < 1:
            return
        with throughput.paused():
            result = evaluate(wrapped, objective, heldout, t.eval_sequences, d.micro_batch, runtime, autocast)
        if result:
            evals.append({"step": step, "tokens": tokens_seen, **result})
            log.write(evals[-1])

    if step == 0:
        run_eval()
    progress = None
    if runtime.main and t.progress and sys.stderr.isatty():
        from tqdm import tqdm

        progress = tqdm(total=stop_at, initial=step, unit="step", dynamic_ncols=True)

    batches = iter(loader)
    accumulation = loader.accumulation
    started = time.perf_counter()
    last, final_state = {}, None
    while step < stop_at:
        torch.manual_seed(t.seed * 1_000_003 + step * 1_009 + runtime.rank)  # dropout, the same after a resume
        lr = lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        micro_batches = [next(batches) for _ in range(accumulation)]
        digest = sum(b["digest"] for b in micro_batches)  # made in the loader's workers
        prepared = [objective.inputs(b) for b in micro_batches]
        local_targets = sum(n for _, n in prepared)
        # On the device; read only when logged, so the host never waits for the GPU.
        loss_sum = accumulate_gradients(wrapped, [inputs for inputs, _ in prepared],
                                        loss_scale(local_targets, runtime), autocast)
        grad_norm = clip_gradients(model.parameters(), config.optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += tokens_per_step
        throughput.add(tokens_per_step)
        if progress:
            progress.update(1)
        if step % t.log_every == 0 or step == stop_at:
            loss_sum, targets, digest = runtime.all_reduce_sum([float(loss_sum), float(local_targets),
                                                                float(digest % _DIGEST_MOD)])
            last = {"step": step, "tokens": tokens_seen, "loss": loss_sum / max(targets, 1),
                    "batch_digest": int(digest) % _DIGEST_MOD,
                    "lr": lr, "grad_norm": round(float(grad_norm), 4), **throughput.report(),
                    **({"max_memory_gib": round(torch.cuda.max_memory_allocated(runtime.device) / 2**30, 2)}
                       if cuda else {}),
                    "elapsed_s": round(time.perf_counter() - started, 2)}
            log.write(last)
        if (t.eval_every and step % t.eval_every == 0) or step == t.max_steps:
            run_eval()
        if (t.checkpoint_every and step % t.checkpoint_every == 0) or (step == stop_at and t.save_final):
            with throughput.paused():
                model_state, optim_state = distributed.full_state(model, optimizer)
                final_state = model_state if step == t.max_steps else None  # the export reuses the gathered model
                if runtime.main:
                    checkpoint.save(out / "checkpoints", step, model_state, optim_state,
                                    {"tokens": tokens_seen, "loader": loader.state_dict(), "config_hash": chash,
                                     "config": config.to_json(), "model": vars(model.config),
                                     "tokenizer": tokenizer}, t.keep_last)
                runtime.barrier()
    if progress:
        progress.close()
    if step == t.max_steps and t.save_final:  # every rank takes part in gathering a sharded model
        model_state = final_state if final_state is not None else distributed.full_state(model, optimizer)[0]
        if runtime.main:
            checkpoint.export_safetensors(model_state, out / "model.safetensors",
                                          {"model": vars(model.config), "tokenizer": tokenizer, "step": step})
    log.close()
    return {"step": step, "tokens": tokens_seen, **last, "evals": evals}


def check_inputs(config: RunConfig, data: str, out: str, tokenizer_path: str | None) -> None:
    """The paths and the batch split, before any rank starts: --data is token shards (or a curation run's
    text with --tokenizer), a --tokenizer given is one (the shards' own, for token shards), --out is not
    a file nor a run of another configuration, and the global batch splits over this launch's ranks."""
    from pyarrow import fs as pafs

    from trainer.tokenizer import fingerprint_of, load_tokenizer

    d, world = config.data, int(os.environ.get("WORLD_SIZE", "1"))
    if d.global_batch % (world * d.micro_batch):
        raise ConfigError(f"data.global_batch {d.global_batch} must be a multiple of world size {world} "
                          f"x data.micro_batch {d.micro_batch}")
    if Path(out).exists() and not Path(out).is_dir():
        raise UsageError(f"--out {out} is a file, not a run directory")
    for found in reversed(checkpoint.checkpoints(Path(out) / "checkpoints")):  # what a resume would continue
        try:
            saved = checkpoint.read_state(found, required=("config_hash",))["config_hash"]
        except checkpoint.CheckpointError:
            continue  # damaged: the resume falls back past it, and says so
        if saved != config_hash(config):
            raise ConfigError(f"--out {out} was trained with another configuration (hash {saved}, now "
                              f"{config_hash(config)}): resume with the same settings, or use a new --out")
        break
    fs, root = filesystem(data)
    kind = fs.get_file_info(root).type
    if kind == pafs.FileType.NotFound:
        raise UsageError(f"--data {data} does not exist")
    if kind != pafs.FileType.Directory and "://" not in data:
        raise UsageError(f"--data {data} is not a directory")
    manifest = {}
    if fs.get_file_info(f"{root}/manifest.json").type == pafs.FileType.File:
        with fs.open_input_stream(f"{root}/manifest.json") as stream:
            try:
                manifest = json.loads(stream.read())
            except ValueError:
                raise UsageError(f"--data {data}: its manifest.json is unreadable") from None
    if tokenizer_path and "://" not in tokenizer_path:
        load_tokenizer(tokenizer_path)  # exists, parses, has the special tokens
    if "format" in manifest:
        if manifest["format"] != FORMAT:
            raise UsageError(f"--data {data}: manifest format {manifest['format']!r}, expected {FORMAT!r}")
        expected = manifest.get("tokenizer", {}).get("fingerprint")
        if tokenizer_path and "://" not in tokenizer_path and fingerprint_of(tokenizer_path) != expected:
            raise UsageError(f"--tokenizer {tokenizer_path} is not the tokenizer of the token shards {data} "
                             f"(fingerprint {str(expected)[:16]}); leave it out")
    elif not tokenizer_path:
        raise UsageError(f"--data {data} is not token shards (no token-shard manifest.json): tokenise it with "
                         "python -m pipelines.tokenize, or give --tokenizer to read a curation run's text")


@cli_main()
def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m trainer.train", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="YAML run config (configs/train/)")
    parser.add_argument("--data", required=True, help="token-shard directory, or a curation run with --tokenizer")
    parser.add_argument("--out", required=True, help="run directory: logs, checkpoints, the model")
    parser.add_argument("--tokenizer", help="tokenizer JSON, for a curation run's text shards")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. objective=mlm or train.max_steps=100 (repeatable)")
    parser.add_argument("--no-fallback", action="store_true",
                        help="stop with an error if the newest checkpoint is damaged, instead of resuming from "
                             "the newest intact one")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.set)
    check_inputs(config, args.data, args.out, args.tokenizer)
    result = train(config, args.data, args.out, args.tokenizer, fallback=not args.no_fallback)
    evals = result["evals"]
    if len(evals) >= 2 and int(os.environ.get("RANK", "0")) == 0:
        first, final = evals[0], evals[-1]
        if "eval_ppl" in final:
            print(f"held-out perplexity: {first['eval_ppl']:.1f} at step {first['step']} -> {final['eval_ppl']:.1f} "
                  f"at step {final['step']} ({final['tokens']:,} tokens)")
        else:
            print(f"held-out masked-token accuracy: {first['eval_mlm_acc']:.3f} at step {first['step']} -> "
                  f"{final['eval_mlm_acc']:.3f} at step {final['step']} (loss {first['eval_mlm_loss']:.3f} -> "
                  f"{final['eval_mlm_loss']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
