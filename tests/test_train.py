"""The trainer on real text (Wikipedia and Gutenberg token shards): it learns, and it resumes exactly."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer.config import load_config
from trainer.sample import fill_mask, generate, load
from trainer.distributed import Runtime
from trainer.model import ModelConfig, Transformer
from trainer.train import accumulate_gradients, loss_scale, train

REPO = Path(__file__).resolve().parent.parent
# A model small enough for CI; 2 ranks x micro-batch 4 = the global batch of 8.
SMALL = ["model.n_layer=2", "model.n_head=2", "model.d_model=64", "data.seq_len=64", "data.global_batch=8",
         "data.micro_batch=4", "train.eval_sequences=16", "train.progress=false", "train.tensorboard=false"]


def run(tmp: Path, name: str, *settings: str, config: str = "configs/train/tiny.yaml") -> tuple[dict, list[dict]]:
    out = tmp / name
    result = train(load_config(str(REPO / config), [*SMALL, *settings]), str(tmp.parent / "tokens"), str(out))
    return result, [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture
def tmp(token_shards, tmp_path):
    (tmp_path / "tokens").symlink_to(token_shards)
    return tmp_path / "runs"


def steps(log: list[dict]) -> dict[int, dict]:
    return {r["step"]: r for r in log if "loss" in r}


def test_gpt_learns_next_tokens(tmp):
    result, log = run(tmp, "gpt", "train.max_steps=120", "train.eval_every=60", "train.log_every=10",
                      "optim.lr=3e-3", "optim.warmup_steps=10")
    evals = [r for r in log if "eval_loss" in r]
    assert [e["step"] for e in evals] == [0, 60, 120]
    assert evals[0]["eval_loss"] > 8.0  # about ln(4000): an untrained model guesses
    assert evals[1]["eval_ppl"] < evals[0]["eval_ppl"] / 3 and evals[-1]["eval_ppl"] < evals[0]["eval_ppl"] / 3
    # The second half, at a decaying learning rate, may level off: no worse than at step 60 beyond the
    # noise of 1,024 eval tokens (better on the shared data; 0.05 worse on the excerpts of tests/data).
    assert evals[-1]["eval_loss"] < evals[1]["eval_loss"] + 0.1
    losses = [r["loss"] for r in steps(log).values()]
    assert sum(losses[-3:]) / 3 < evals[0]["eval_loss"] - 1.0 and losses[-1] < losses[0]
    assert log[0]["event"] == "config" and log[0]["parameters"] > 0 and "mfu_formula" in log[0]
    assert (tmp / "gpt" / "model.safetensors").exists() and (tmp / "gpt" / "tokenizer.json").exists()
    model, tokenizer, _ = load(tmp / "gpt")
    text = generate(model, tokenizer, "The history of", 20, temperature=0.0, top_k=None, top_p=None, seed=0)
    assert text.startswith("The history of") and len(text) > len("The history of") + 10
    assert text == generate(model, tokenizer, "The history of", 20, 0.0, None, None, seed=1)  # greedy


def test_bert_learns_masked_tokens(tmp):
    _, log = run(tmp, "bert", "train.max_steps=200", "train.eval_every=100", "train.log_every=10",
                 "train.eval_sequences=64", "optim.lr=1e-3", "optim.warmup_steps=10",
                 config="configs/train/tiny-bert.yaml")
    evals = [r for r in log if "eval_mlm_loss" in r]
    assert evals[0]["eval_mlm_acc"] < 0.01
    assert evals[-1]["eval_mlm_loss"] < evals[0]["eval_mlm_loss"] - 1.0
    assert evals[-1]["eval_mlm_acc"] > 0.02
    # The same held-out sequences each time (that the masks are the same is tests/test_masking.py's).
    assert evals[0]["eval_masked_tokens"] == evals[-1]["eval_masked_tokens"]
    model, tokenizer, _ = load(tmp / "bert")
    filled = fill_mask(model, tokenizer, "It was the [MASK] of the [MASK].", top=3)
    assert len(filled) == 2 and all(len(c) == 3 and c[0][1] >= c[1][1] >= c[2][1] for c in filled)


def test_a_changed_configuration_does_not_resume(tmp):
    run(tmp, "changed", "train.max_steps=6", "train.stop_at=2", "train.eval_every=0")
    with pytest.raises(ValueError, match="another configuration"):
        run(tmp, "changed", "train.max_steps=6", "train.eval_every=0", "optim.lr=1e-4")


def test_resume_is_bit_exact(tmp):
    # With dropout, so the random stream must also continue exactly across the resume.
    base = ["train.max_steps=10", "train.log_every=1", "train.eval_every=0", "train.checkpoint_every=0",
            "model.dropout=0.1"]
    _, whole = run(tmp, "whole", *base)
    _, first = run(tmp, "split", *base, "train.stop_at=4")
    assert max(steps(first)) == 4 and not (tmp / "split" / "model.safetensors").exists()
    _, split = run(tmp, "split", *base)  # the same --out: resumes from step 4
    _same_losses(steps(split), steps(whole))
    assert (tmp / "split" / "model.safetensors").read_bytes() == (tmp / "whole" / "model.safetensors").read_bytes()


def test_uneven_micro_batches_give_the_gradient_of_the_global_mean():
    """Micro-batches holding 3 and 32 masked tokens: accumulated, the gradient is that of the mean over
    all 35 (a mean per micro-batch would weigh each of the 3 tokens about 11 times as much)."""
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=100, arch="encoder", n_layer=1, n_head=2, d_model=32, max_seq_len=16))
    ids, targets = torch.randint(6, 100, (4, 16)), torch.randint(6, 100, (4, 16))
    few, many = torch.tensor([1, 17, 20]), torch.arange(32)  # flat positions b * 16 + t in each micro-batch
    micro = [{"input_ids": ids[:2], "targets": targets[:2], "mlm_positions": few},
             {"input_ids": ids[2:], "targets": targets[2:], "mlm_positions": many}]
    loss_sum = accumulate_gradients(model, micro, loss_scale(35, Runtime(0, 1, 0, torch.device("cpu"))))
    accumulated = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    whole = model(ids, targets, mlm_positions=torch.cat([few, many + 32]))
    whole.loss.backward()
    assert float(loss_sum) / 35 == pytest.approx(float(whole.loss.detach()), rel=1e-6)
    for got, want in zip(accumulated, (p.grad for p in model.parameters())):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_mlm_step_is_the_same_however_the_batch_is_split(tmp):
    base = ["train.max_steps=4", "train.log_every=1", "train.eval_every=0", "train.save_final=false"]
    _, split = run(tmp, "split", *base, "data.micro_batch=4", config="configs/train/tiny-bert.yaml")
    _, whole = run(tmp, "whole", *base, "data.micro_batch=8", config="configs/train/tiny-bert.yaml")
    a, b = steps(split), steps(whole)
    assert sorted(a) == [1, 2, 3, 4] and not (tmp / "whole" / "checkpoints").exists()
    for step in a:
        assert a[step]["batch_digest"] == b[step]["batch_digest"]
        assert a[step]["loss"] == pytest.approx(b[step]["loss"], rel=1e-6, abs=0), step


def _same_losses(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for step in a:
        assert (a[step]["loss"], a[step]["batch_digest"]) == (b[step]["loss"], b[step]["batch_digest"]), step


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_resume_on_two_ranks_after_one(tmp, mode):
    base = ["train.max_steps=8", "train.log_every=1", "train.eval_every=0", "train.checkpoint_every=0",
            f"train.distributed={mode}"]
    _, whole = run(tmp, "whole", *base)
    run(tmp, "elastic", *base, "train.stop_at=4")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "trainer.train", "--config", str(REPO / "configs/train/tiny.yaml"),
               "--data", str(tmp.parent / "tokens"), "--out", str(tmp / "elastic")]
    for setting in [*SMALL, *base]:
        command += ["--set", setting]
    for attempt in range(2):  # torchrun picks a free port, then binds it: another process can take it first
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode == 0 or "address already in use" not in done.stderr.lower():
            break
    assert done.returncode == 0, done.stderr[-3000:]
    log = [json.loads(line) for line in (tmp / "elastic" / "log.jsonl").read_text().splitlines()]
    resumed = [r for r in log if r.get("event") == "config"][-1]
    assert resumed["world_size"] == 2 and resumed["resumed_from"].endswith("step-0000004"), resumed
    a, b = steps(log), steps(whole)
    assert sorted(a) == list(range(1, 9))
    for step in range(1, 9):
        assert a[step]["batch_digest"] == b[step]["batch_digest"], (step, a[step], b[step])  # same global batches
        assert a[step]["loss"] == pytest.approx(b[step]["loss"], rel=1e-5), (step, a[step], b[step])


def test_a_curation_run_trains_directly_with_a_tokenizer(curated, tokenizer_file, tmp_path, capsys):
    """A curation run's text with --tokenizer trains on the very batches, with the very losses, of the
    token shards pipelines.tokenize makes of that run (no held-out split); the first loss is an untrained
    model's, about ln(padded vocabulary); the loss then falls."""
    from tokenizers import Tokenizer

    from pipelines.tokenize import run as tokenize

    tokenize(["--input", str(curated), "--tokenizer", str(tokenizer_file), "--output", str(tmp_path / "tokens"),
              "--heldout-fraction", "0"])
    config = load_config(str(REPO / "configs/train/tiny.yaml"),
                         [*SMALL, "train.max_steps=6", "train.log_every=1", "train.eval_every=0", "optim.warmup_steps=1"])
    result = train(config, str(curated), str(tmp_path / "text"), str(tokenizer_file))
    assert result["step"] == 6 and result["evals"] == []  # no held-out split
    text = steps([json.loads(line) for line in (tmp_path / "text" / "log.jsonl").read_text().splitlines()])
    # Token shards of --heldout-fraction 0 have an empty held-out split: training goes on without
    # evaluation and says so (it once failed there: "0 tokens do not fill one window").
    assert train(config, str(tmp_path / "tokens"), str(tmp_path / "shards"))["evals"] == []
    assert "no held-out evaluation: the held-out split of" in capsys.readouterr().err
    shards = steps([json.loads(line) for line in (tmp_path / "shards" / "log.jsonl").read_text().splitlines()])
    assert sorted(text) == sorted(shards) == list(range(1, 7))
    assert [text[s]["batch_digest"] for s in text] == [shards[s]["batch_digest"] for s in text]
    _same_losses(text, shards)
    # N(0, 0.02) weights predict all ids, the padding ones too, about equally at step 1 (4,000 -> 4,032).
    padded = 64 * math.ceil(Tokenizer.from_file(str(tokenizer_file)).get_vocab_size() / 64)
    assert text[1]["loss"] == pytest.approx(math.log(padded), abs=0.05), (text[1], padded)
    assert text[6]["loss"] < text[1]["loss"] - 0.25, [text[s]["loss"] for s in text]


def test_next_token_training_needs_no_mask_token():
    """A tokenizer of GPT-2's kind has only a separator: next-token training takes it; MLM asks for [MASK]."""
    from trainer.train import Objective

    gpt2_like = {"vocab_size": 50257, "special_tokens": {"<|endoftext|>": 50256}}
    clm = Objective(load_config(str(REPO / "configs/train/tiny.yaml"), []), gpt2_like, torch.device("cpu"))
    batch = {"input_ids": torch.arange(9)[None], "doc_ids": torch.zeros(1, 9, dtype=torch.long), "seq_id": torch.tensor([0])}
    inputs, targets = clm.inputs(batch)
    assert targets == 8 and inputs["input_ids"].shape == (1, 8)
    with pytest.raises(KeyError, match="MASK"):
        Objective(load_config(str(REPO / "configs/train/tiny-bert.yaml"), []), gpt2_like, torch.device("cpu"))


def test_optimiser_and_model_bounds_are_what_torch_accepts(tmp, capsys):
    """AdamW refuses beta = 1 and nn.Dropout p > 1 only once the ranks have started: the config check
    refuses them (and NaN, and an infinite learning rate) first, one line, exit code 2; the values just
    inside the bounds build the model and the optimiser."""
    from trainer.config import ConfigError
    from trainer.train import build_model, main

    tiny = str(REPO / "configs/train/tiny.yaml")
    for setting, message in [("optim.beta1=1.0", "optim.beta1 1.0: must be in [0, 1)"),
                             ("optim.beta2=1", "optim.beta2 1.0: must be in [0, 1)"),
                             ("optim.beta2=-0.1", "optim.beta2 -0.1: must be in [0, 1)"),
                             ("optim.weight_decay=-1", "optim.weight_decay -1.0: must be in [0, inf)"),
                             ("optim.lr=nan", "optim.lr nan: must be in (0, inf)"),
                             ("optim.lr=inf", "optim.lr inf: must be in (0, inf)"),
                             ("model.dropout=1.5", "model.dropout 1.5: must be in [0, 1)"),
                             ("model.n_head=0", "model.n_head 0: must be in [1, inf]")]:
        with pytest.raises(ConfigError) as caught:
            load_config(tiny, [*SMALL, setting])
        assert str(caught.value) == message
    edge = load_config(tiny, [*SMALL, "optim.beta1=0", "optim.beta2=0.999999", "optim.weight_decay=0",
                              "model.dropout=0.999", "optim.grad_clip=inf"])
    model = build_model(edge, 100)
    model.configure_optimizer(edge.optim.weight_decay, edge.optim.lr, (edge.optim.beta1, edge.optim.beta2), "cpu")
    argv = ["--config", tiny, "--data", str(tmp.parent / "tokens"), "--out", str(tmp / "beta")]
    for setting in [*SMALL, "train.max_steps=2", "optim.beta2=1.0"]:
        argv += ["--set", setting]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == "error: optim.beta2 1.0: must be in [0, 1)\n" and not (tmp / "beta").exists()


def _host_sliced_inputs(self, batch: dict) -> tuple[dict, int]:
    """The earlier host path, as a reference: int64 slices made on the host (strided), then copied."""
    ids, doc_ids = batch["input_ids"].long(), batch["doc_ids"].long()
    if self.kind == "clm":
        out = {"input_ids": ids[:, :-1], "targets": ids[:, 1:]}
        doc_ids = doc_ids[:, :-1]
    else:
        out = {"input_ids": batch["masked_ids"].long(), "targets": batch["labels"].long(),
               "mlm_positions": batch["mlm_positions"].long()}
    if self.document_masking:
        out["doc_ids"] = doc_ids
    targets = int((out["targets"] != -100).sum())
    return {k: v.to(self.device) for k, v in out.items()}, targets


@pytest.mark.parametrize("name,config,settings", [
    ("gpt-doc", "configs/train/tiny.yaml", ["data.document_masking=true"]),
    ("bert", "configs/train/tiny-bert.yaml", [])])
def test_the_host_path_keeps_the_losses(tmp, monkeypatch, name, config, settings):
    """int32 batches copied whole, widened and sliced on the device: the losses of the host-sliced int64 path."""
    from trainer.train import Objective

    base = ["train.max_steps=3", "train.log_every=1", "train.eval_every=0", "train.save_final=false", *settings]
    _, log = run(tmp, name, *base, config=config)
    monkeypatch.setattr(Objective, "inputs", _host_sliced_inputs)
    _, reference = run(tmp, name + "-host", *base, config=config)
    _same_losses(steps(log), steps(reference))


def test_grad_clip_zero_is_no_clipping(tmp):
    """optim.grad_clip=0 used to reach clip_grad_norm_(max_norm=0), which zeroes every gradient: the run
    stayed at its initial loss while grad_norm looked normal. 0 is no clipping, as inf is."""
    from trainer.train import clip_gradients

    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3)
    layer(torch.randn(5, 4)).square().sum().backward()
    before = [p.grad.clone() for p in layer.parameters()]
    norm = clip_gradients(layer.parameters(), 0.0)
    assert float(norm) > 0
    for got, want in zip((p.grad for p in layer.parameters()), before):
        assert torch.equal(got, want)
    assert load_config(str(REPO / "configs/train/tiny.yaml"), ["optim.grad_clip=0"]).optim.grad_clip == 0.0
    base = ["train.max_steps=4", "train.log_every=1", "train.eval_every=0", "train.save_final=false",
            "optim.warmup_steps=1", "optim.lr=1e-2"]
    _, off = run(tmp, "off", *base, "optim.grad_clip=0")
    _, inf = run(tmp, "inf", *base, "optim.grad_clip=inf")
    _same_losses(steps(off), steps(inf))
    losses = [r["loss"] for r in steps(off).values()]
    assert losses[-1] < losses[0] - 0.1, losses


def test_numbers_yaml_leaves_as_strings_reach_the_model_as_numbers(tmp_path):
    """YAML 1.1 reads 1e-6 (no dot) as a string: model.norm_eps reached RMSNorm as "1e-6" and the first
    forward failed. From --set and from a file alike, the model gets the float; a word is refused."""
    from trainer.config import ConfigError
    from trainer.train import build_model

    tiny = str(REPO / "configs/train/tiny.yaml")
    config_file = tmp_path / "eps.yaml"
    config_file.write_text((REPO / "configs/train/tiny.yaml").read_text().replace(
        "positions: learned}", "positions: rope, norm: rmsnorm, norm_eps: 1e-6, rope_base: 5e5}"))
    for config in (load_config(tiny, ["model.norm=rmsnorm", "model.norm_eps=1e-6", "model.positions=rope",
                                      "model.rope_base=5e5"]), load_config(str(config_file))):
        assert config.model["norm_eps"] == 1e-6 and type(config.model["norm_eps"]) is float
        assert config.model["rope_base"] == 5e5 and type(config.model["rope_base"]) is float
        model = build_model(config, 100)
        assert model.blocks[0].norm1.eps == 1e-6
        assert torch.isfinite(model(torch.randint(0, 100, (1, 8))).logits).all()
    with pytest.raises(ConfigError, match="model.norm_eps: expected float"):
        load_config(tiny, ["model.norm_eps=small"])


def test_a_resume_after_a_crash_logs_each_step_once(tmp):
    """A run that stopped after step 6 with its last checkpoint at step 4 (a crash, as far as the log
    can tell) resumes at 4 and does 5 and 6 again: the log holds each step once, the later ones."""
    base = ["train.max_steps=6", "train.log_every=1", "train.eval_every=3", "train.checkpoint_every=4",
            "train.save_final=false"]
    _, crashed = run(tmp, "crash", *base)
    assert sorted(steps(crashed)) == [1, 2, 3, 4, 5, 6]
    with open(tmp / "crash" / "log.jsonl", "a") as log:
        log.write('{"step": 7, "loss": 1.')  # torn by the crash
    _, log = run(tmp, "crash", *base)
    logged = [r["step"] for r in log if "loss" in r]
    assert logged == [1, 2, 3, 4, 5, 6], logged
    assert [r["step"] for r in log if "eval_loss" in r] == [0, 3, 6]
    assert [r.get("resumed_from") is not None for r in log if r.get("event") == "config"] == [False, True]
    assert steps(log)[6]["loss"] == pytest.approx(steps(crashed)[6]["loss"], rel=1e-6)


def test_bf16_autocast_is_on_the_runs_device():
    """train.dtype=bf16 on CPU wrapped the forward in autocast("cuda"): it ran fp32 while the log said bf16."""
    from trainer.train import autocast_for

    layer = torch.nn.Linear(8, 8)
    with autocast_for("cpu", "bf16")():
        assert layer(torch.randn(2, 8)).dtype == torch.bfloat16
    with autocast_for("cpu", "fp32")():
        assert layer(torch.randn(2, 8)).dtype == torch.float32


def test_paused_time_is_not_counted_in_tokens_per_second():
    """Evaluation and checkpoints ran inside the next interval's time: its tokens/s and MFU were low."""
    from trainer.metrics import Throughput

    now = [0.0]
    synced = []
    meter = Throughput(100.0, 1e6, 1, sync=lambda: synced.append(now[0]), clock=lambda: now[0])
    meter.add(1000)
    now[0] += 1.0  # training
    with meter.paused():
        now[0] += 9.0  # evaluation, a checkpoint
    now[0] += 1.0
    meter.add(1000)
    report = meter.report()
    assert report["tokens_per_s"] == 1000.0 and report["mfu"] == 0.1 and synced == [1.0, 10.0]


def test_the_loaders_batches_are_int32_with_digest_and_count(token_shards):
    """The host copies each batch once, whole and int32; slicing and widening happen on the device; the
    digest and the target count come from the loader's workers, not the main thread."""
    from trainer.data.loader import SequenceDataset
    from trainer.data.shards import TokenShards
    from trainer.train import Objective, batch_digest

    for config_name, window in (("tiny.yaml", 17), ("tiny-bert.yaml", 16)):
        config = load_config(str(REPO / "configs/train" / config_name), ["data.document_masking=true"])
        shards = TokenShards(str(token_shards), "train")
        objective = Objective(config, shards.tokenizer, torch.device("cpu"))
        dataset = SequenceDataset(shards, 16, window=window)
        batch = objective.collate([dataset[s] for s in range(3)])
        assert batch["input_ids"].dtype == torch.int32 and batch["input_ids"].is_contiguous()
        assert batch["digest"] == batch_digest(batch["input_ids"].long().numpy())
        inputs, n = objective.inputs(batch)
        assert all(v.dtype == torch.int64 for k, v in inputs.items() if k != "doc_ids")
        ids = batch["input_ids"].long()
        if objective.kind == "clm":
            assert n == 3 * 16 and torch.equal(inputs["input_ids"], ids[:, :-1])
            assert torch.equal(inputs["targets"], ids[:, 1:])
            assert torch.equal(inputs["doc_ids"].long(), batch["doc_ids"][:, :-1].long())
        else:
            assert n == len(batch["mlm_positions"]) == int((inputs["targets"] != -100).sum()) > 0


def test_fsdp2_gathers_bf16_parameters_and_compiles_each_block(tmp_path):
    """FSDP2 as torchtitan applies it: in bf16 a MixedPrecisionPolicy (bf16 parameters in the forward,
    fp32 reduction, fp32 sharded master weights), and each block compiled on its own (in place: the
    parameter names, and so the checkpoints, do not change). In one process, on a 1-rank gloo group."""
    import torch.distributed as dist

    from trainer import distributed

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        model = Transformer(ModelConfig(vocab_size=64, n_layer=2, n_head=2, d_model=32, max_seq_len=16))
        names = [name for name, _ in model.named_parameters()]
        seen = []
        model.blocks[0].attn.qkv.register_forward_pre_hook(lambda module, args: seen.append(module.weight.dtype))
        wrapped = distributed.wrap(model, Runtime(0, 2, 0, torch.device("cpu")), "fsdp", compile_model=True,
                                   bf16=True)
        assert wrapped is model and all(block._compiled_call_impl is not None for block in model.blocks)
        assert model._compiled_call_impl is None  # not the whole sharded model
        assert [name for name, _ in model.named_parameters()] == names
        assert all(p.dtype == torch.float32 for p in model.parameters())  # the master weights
        for block in model.blocks:  # run eager here: compiling on 2 shared cores takes minutes
            block._compiled_call_impl = None
        x = torch.randint(0, 64, (2, 16))
        model(x, x).loss.backward()
        assert seen == [torch.bfloat16]
        assert all(p.grad.dtype == torch.float32 for p in model.parameters())
    finally:
        dist.destroy_process_group()
