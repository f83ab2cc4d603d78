"""trainer.export: models trained here load through transformers' Auto classes (no custom code) and
compute the same logits, with a tokenizer that gives the same ids; variants no class matches, and
missing or damaged checkpoints, are refused in one line."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from conftest import REPO, curate, refused
from trainer.checkpoint import export_safetensors
from trainer.config import load_config
from trainer.export import SAMPLE_TEXT, main
from trainer.model import ModelConfig, Transformer
from trainer.sample import load
from trainer.train import train

transformers = pytest.importorskip("transformers")
torch.set_num_threads(1)

# A few steps of a tiny model, at a learning rate that takes its weights well away from the initial ones
# (so that a misplaced weight or another GELU shows in the logits); one checkpoint at the end.
TINY = ["model.n_layer=2", "model.n_head=2", "model.d_model=32", "data.seq_len=32", "model.max_seq_len=64",
        "data.global_batch=4", "data.micro_batch=4", "train.max_steps=12", "train.eval_sequences=0",
        "train.checkpoint_every=0", "optim.warmup_steps=2", "optim.lr=1.0e-2", "train.progress=false", "train.tensorboard=false"]
LLAMA = ["model.positions=rope", "model.norm=rmsnorm", "model.ffn=swiglu", "model.bias=false",
         "model.tie_embeddings=false", "model.rope_base=500.0", "model.norm_eps=1.0e-6"]
TEXT = "It was the best of times, it was the [MASK] of times; the history of the city."
SPECIALS = {"eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "pad_token": "[PAD]",
            "unk_token": "[UNK]", "mask_token": "[MASK]"}
FILES = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}


@pytest.fixture(scope="module")
def shards(tmp_path_factory, data_dir):
    """Token shards of the Gutenberg books with a 400-token BPE."""
    from pipelines.tokenize import run as tokenize
    from trainer.tokenizer import main as train_tokenizer

    root = tmp_path_factory.mktemp("export")
    run = root / "run"
    assert curate(run, [{"name": "books", "glob": str(data_dir / "gutenberg_en/*.txt")}], filters="none",
                  dedup="none", pii=False).problems == []
    tokenizer = root / "tok.json"
    assert train_tokenizer(["--input", str(run), "--output", str(tokenizer), "--vocab-size", "400"]) == 0
    tokenize(["--input", str(run), "--tokenizer", str(tokenizer), "--output", str(root / "tokens"),
              "--heldout-fraction", "0.2"])
    return root


def trained(shards: Path, name: str, *settings: str, config: str = "configs/train/tiny.yaml") -> Path:
    out = shards / name
    if not out.exists():
        train(load_config(str(REPO / config), [*TINY, *settings]), str(shards / "tokens"), str(out))
    return out


def export(capsys, source: Path, output: Path) -> Path:
    assert main(["--checkpoint", str(source), "--output", str(output)]) == 0, capsys.readouterr().err
    assert FILES <= {p.name for p in output.iterdir()}
    return output


def loaded(folder: Path, auto, name: str):
    """The folder through an Auto class, as a whole `name` (every weight from the file)."""
    model, info = auto.from_pretrained(str(folder), output_loading_info=True, dtype=torch.float32)
    assert type(model).__name__ == name
    assert not any(info.values()), info
    return model.eval()


def check_tokenizer(folder: Path, ours) -> dict:
    """AutoTokenizer gives our ids, adds nothing, and names our special tokens; returns its encoding of TEXT."""
    theirs = transformers.AutoTokenizer.from_pretrained(str(folder))
    for text in (TEXT, SAMPLE_TEXT, "plain words only"):
        assert theirs(text)["input_ids"] == ours.encode(text).ids
    for name, token in SPECIALS.items():
        assert getattr(theirs, name) == token and getattr(theirs, f"{name}_id") == ours.token_to_id(token)
    assert len(theirs) == ours.get_vocab_size()
    return theirs(TEXT, return_tensors="pt")


def logit_diff(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    diff = float((ours - theirs).abs().max())
    print(f"max logit difference {diff:.3g} (logits up to {float(ours.abs().max()):.3g})")
    return diff


@pytest.mark.parametrize("name, settings", [("gpt", []), ("llama", LLAMA)])
def test_a_decoder_loads_as_its_causal_lm(shards, tmp_path, capsys, name, settings):
    run = trained(shards, name, *settings)
    # The GPT from the run's model.safetensors; the Llama from one checkpoint directory.
    source = run if name == "gpt" else sorted((run / "checkpoints").iterdir())[-1]
    folder = export(capsys, source, tmp_path / "hf")
    ours, tokenizer, _ = load(source)
    cls = "GPT2LMHeadModel" if name == "gpt" else "LlamaForCausalLM"
    theirs = loaded(folder, transformers.AutoModelForCausalLM, cls)
    config = json.loads((folder / "config.json").read_text())
    assert config["vocab_size"] == ours.config.vocab_size < ours.config.padded_vocab_size  # the padding cut
    assert config["tie_word_embeddings"] is (name == "gpt")
    encoded = check_tokenizer(folder, tokenizer)
    probe = torch.randint(0, ours.config.vocab_size, (3, 32), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        for inputs, ids in ((dict(encoded), encoded["input_ids"]), ({"input_ids": probe}, probe)):
            expected = ours(ids).logits[..., :ours.config.vocab_size]
            assert logit_diff(expected, theirs(**inputs).logits) < 1e-4
    # Greedy continuation: the same tokens, incremental decoding and all.
    prompt = encoded["input_ids"][:, :8]
    mine = ours.generate(prompt, 12, temperature=0)
    hf = theirs.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12, do_sample=False,
                         min_new_tokens=12)
    assert hf.tolist() == mine.tolist()


def test_an_encoder_loads_as_bert_masked_lm(shards, tmp_path, capsys):
    run = trained(shards, "bert", config="configs/train/tiny-bert.yaml")
    folder = export(capsys, run, tmp_path / "hf")
    ours, tokenizer, _ = load(run)
    theirs = loaded(folder, transformers.AutoModelForMaskedLM, "BertForMaskedLM")
    encoded = check_tokenizer(folder, tokenizer)
    assert "token_type_ids" in encoded  # BERT's zero type embeddings take them and change nothing
    ids = encoded["input_ids"]
    # Ours through its MLM head at every position, gathered as in training.
    everywhere = torch.arange(ids.numel())
    with torch.no_grad():
        expected = ours(ids, mlm_positions=everywhere).logits[:, :ours.config.vocab_size].view(*ids.shape, -1)
        assert logit_diff(expected, theirs(**encoded).logits) < 1e-4
        pair = transformers.AutoTokenizer.from_pretrained(str(folder))(TEXT, "a second text", return_tensors="pt")
        pair_ids = pair["input_ids"]
        assert pair["token_type_ids"].max() == 1
        assert logit_diff(ours(pair_ids).logits[..., :ours.config.vocab_size], theirs(**pair).logits) < 1e-4
    # The likeliest fill for [MASK] is the same.
    at = int((ids[0] == tokenizer.token_to_id("[MASK]")).nonzero()[0])
    assert int(theirs(**encoded).logits[0, at].argmax()) == int(expected[0, at].argmax())


@pytest.fixture(scope="module")
def tokenizer_file(shards):
    return shards / "tok.json"


def untrained(root: Path, tokenizer_file: Path, **settings) -> Path:
    """A run folder (model.safetensors and tokenizer.json) of an untrained model of these settings."""
    run = root / "run"
    run.mkdir()
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=400, n_layer=1, n_head=2, d_model=16, max_seq_len=16, **settings)
    model = Transformer(config)
    with torch.no_grad():  # norms and biases away from 1 and 0, matrices 8 times the initial scale, so that a
        for p in model.parameters():  # misplaced weight shows, and the tanh GELU's error (on inputs of about 1)
            p.add_(0.3 * torch.randn_like(p)) if p.dim() == 1 else p.mul_(8)
    export_safetensors(model.state_dict(), run / "model.safetensors", {"model": vars(config), "tokenizer": {}})
    shutil.copyfile(tokenizer_file, run / "tokenizer.json")
    return run


@pytest.mark.parametrize("settings, cls", [
    ({"bias": False, "tie_embeddings": False, "norm_eps": 1e-3}, "GPT2LMHeadModel"),
    ({"arch": "encoder", "bias": False, "tie_embeddings": False, "norm_eps": 1e-3}, "BertForMaskedLM"),
    ({"positions": "rope", "norm": "rmsnorm", "ffn": "swiglu", "norm_eps": 1e-3}, "LlamaForCausalLM"),  # biases, tied
])  # an eps none of the classes has by default
def test_bias_and_tying_variants(tmp_path, tokenizer_file, capsys, settings, cls):
    run = untrained(tmp_path, tokenizer_file, **settings)
    folder = export(capsys, run, tmp_path / "hf")
    ours = load(run)[0]
    auto = transformers.AutoModelForMaskedLM if cls == "BertForMaskedLM" else transformers.AutoModelForCausalLM
    theirs = loaded(folder, auto, cls)
    config = json.loads((folder / "config.json").read_text())
    assert config["tie_word_embeddings"] is ours.config.tie_embeddings
    ids = torch.randint(0, 400, (2, 16), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert logit_diff(ours(ids).logits[..., :400], theirs(input_ids=ids).logits) < 1e-4


@pytest.mark.parametrize("settings, named", [
    ({"ffn": "relu"}, "model.ffn=relu"),
    ({"positions": "sinusoidal"}, "model.positions=sinusoidal"),
    ({"norm_position": "post"}, "model.norm_position=post"),
    ({"norm": "rmsnorm"}, "model.norm=rmsnorm"),
    ({"positions": "rope", "norm": "layernorm", "ffn": "swiglu"}, "model.norm=layernorm"),
    ({"positions": "rope", "norm": "rmsnorm", "ffn": "gelu"}, "model.ffn=gelu"),
    ({"arch": "encoder", "norm_position": "pre"}, "model.norm_position=pre"),
    ({"arch": "encoder", "positions": "rope"}, "model.positions=rope"),
])
def test_a_variant_no_class_matches_is_refused(tmp_path, tokenizer_file, capsys, settings, named):
    run = untrained(tmp_path, tokenizer_file, **settings)
    rc = main(["--checkpoint", str(run), "--output", str(tmp_path / "hf")])
    refused(capsys, rc, named)
    assert not (tmp_path / "hf").exists() and [p.name for p in tmp_path.iterdir()] == ["run"]


def test_missing_or_damaged_checkpoints_are_one_line(shards, tmp_path, capsys):
    run = trained(shards, "gpt")
    capsys.readouterr()  # the training log
    out = str(tmp_path / "hf")
    refused(capsys, main(["--checkpoint", str(tmp_path / "nowhere"), "--output", out]), "nowhere", "does not exist")
    (tmp_path / "empty").mkdir()
    refused(capsys, main(["--checkpoint", str(tmp_path / "empty"), "--output", out]), "empty", "no model.safetensors")
    # A checkpoint whose model.pt was damaged after the save: its sha256 tells.
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    step = sorted((copy / "checkpoints").iterdir())[-1]
    with open(step / "model.pt", "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0" * 64)
    refused(capsys, main(["--checkpoint", str(step), "--output", out]), "model.pt", "sha256")
    (step / "model.pt").write_bytes(b"")
    refused(capsys, main(["--checkpoint", str(step), "--output", out]), "model.pt")
    (copy / "model.safetensors").write_bytes(b"torn")
    refused(capsys, main(["--checkpoint", str(copy), "--output", out]), "model.safetensors", "unreadable")
    (copy / "model.safetensors").unlink()
    (copy / "tokenizer.json").unlink()
    refused(capsys, main(["--checkpoint", str(copy), "--output", out]), "tokenizer.json")
    with pytest.raises(SystemExit) as caught:  # argparse's own mistakes: one line too
        main(["--checkpoint", str(run)])
    refused(capsys, caught.value.code, "--output")
    assert not (tmp_path / "hf").exists()


def test_the_output_folder(shards, tmp_path, capsys):
    run = trained(shards, "gpt")
    capsys.readouterr()  # the training log
    out = tmp_path / "hf"
    export(capsys, run, out)
    before = (out / "model.safetensors").read_bytes()
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert len(set(modes.values())) == 1, modes  # the weights readable as the rest, as the umask gives
    refused(capsys, main(["--checkpoint", str(run), "--output", str(out)]), str(out), "--overwrite")
    assert main(["--checkpoint", str(run), "--output", str(out), "--overwrite"]) == 0
    assert (out / "model.safetensors").read_bytes() == before  # the same export again
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine\n")
    refused(capsys, main(["--checkpoint", str(run), "--output", str(other), "--overwrite"]), str(other),
            "no exported model")
    assert (other / "notes.txt").read_text() == "mine\n"
    refused(capsys, main(["--checkpoint", str(run), "--output", str(run / "hf")]), "outside the run")
    refused(capsys, main(["--checkpoint", str(run), "--output", str(other / "notes.txt")]), "is a file")
    assert not (run / "hf").exists() and not list(tmp_path.glob(".tmp-*"))
