"""A damaged newest checkpoint (a truncated model.pt or optim.pt, a garbage state.json, a byte changed
that torch.load would accept) is reported by path and the run resumes from the newest intact one;
with --no-fallback, or when every checkpoint is damaged, it is one line on stderr and exit code 2.
Only evidence of damage counts: an error reading an intact checkpoint is raised, and nothing is moved.
A training run of the smallest model the trainer tests use, on the Wikipedia and Gutenberg shards."""

import errno
import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch

from trainer import checkpoint
from trainer import sample as sample_cli
from trainer import train as train_cli
from trainer.config import load_config

REPO = Path(__file__).resolve().parent.parent
CONFIG = str(REPO / "configs/train/tiny.yaml")
# tests/test_train.py's small model; a checkpoint every 2 steps, the newest 2 kept.
SETTINGS = ["model.n_layer=2", "model.n_head=2", "model.d_model=64", "data.seq_len=64", "data.global_batch=8",
            "data.micro_batch=4", "train.progress=false", "train.tensorboard=false", "train.max_steps=8",
            "train.log_every=1", "train.eval_every=0", "train.checkpoint_every=2", "train.keep_last=2"]
NEWEST, EARLIER = "step-0000004", "step-0000002"


@pytest.fixture(scope="module")
def trained(token_shards, tmp_path_factory) -> Path:
    """A run stopped at step 4: checkpoints at steps 2 and 4."""
    out = tmp_path_factory.mktemp("fallback") / "run"
    train_cli.train(load_config(CONFIG, [*SETTINGS, "train.stop_at=4"]), str(token_shards), str(out))
    assert [p.name for p in checkpoint.checkpoints(out / "checkpoints")] == [EARLIER, NEWEST]
    return out


@pytest.fixture
def run_dir(trained, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(trained, out)
    return out


def resume(run: Path, tokens: Path, *extra: str, stop_at: int = 5) -> int:
    argv = ["--config", CONFIG, "--data", str(tokens), "--out", str(run)]
    for setting in [*SETTINGS, f"train.stop_at={stop_at}"]:
        argv += ["--set", setting]
    return train_cli.main(argv + list(extra))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path: Path) -> None:
    """A byte in the middle of the tensor data: torch.load still loads the file, with a wrong weight."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00\x07{not json")


def a_list(path: Path) -> None:
    path.write_text("[]\n")


def without(key: str):
    def damage(path: Path) -> None:
        state = json.loads(path.read_text())
        del state[key]
        path.write_text(json.dumps(state))
    return damage


DAMAGE = {"model.pt": truncate, "optim.pt": truncate, "state.json": garbage, "model.pt-flipped": flip_a_byte,
          # valid JSON, but not a checkpoint's state: damaged too, in the upfront check as in the resume
          "state.json-list": a_list, "state.json-no-config_hash": without("config_hash"),
          "state.json-no-loader": without("loader"), "state.json-no-tokens": without("tokens")}


def last_config(run: Path) -> dict:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()
            if '"event": "config"' in line][-1]


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_newest_checkpoint_falls_back_to_the_earlier_one(run_dir, token_shards, capsys, damage):
    damaged = run_dir / "checkpoints" / NEWEST / damage.split("-")[0]
    DAMAGE[damage](damaged)
    assert resume(run_dir, token_shards) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{damaged}:" in err  # the file, by path, and what is wrong with it
    assert f"resuming from {run_dir / 'checkpoints' / EARLIER}" in err
    config = last_config(run_dir)
    assert config["resumed_from"].endswith(EARLIER)
    assert [d["path"] for d in config["damaged_checkpoints"]] == [str(run_dir / "checkpoints" / NEWEST)]
    assert str(damaged) in config["damaged_checkpoints"][0]["error"]
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4, 3, 4, 5]  # steps 3 and 4 again, from step 2
    # The damaged one is moved aside, kept for inspection; the resumed run's checkpoints replace it.
    assert (run_dir / "checkpoints" / f"{NEWEST}.damaged" / damaged.name).exists()
    assert [p.name for p in checkpoint.checkpoints(run_dir / "checkpoints")] == [NEWEST, "step-0000005"]
    assert checkpoint.load(run_dir / "checkpoints" / NEWEST)["state"]["step"] == 4


@pytest.mark.parametrize("damage", ["model.pt", "state.json-list"])
def test_no_fallback_is_one_line_and_exit_code_2(run_dir, token_shards, capsys, damage):
    damaged = run_dir / "checkpoints" / NEWEST / damage.split("-")[0]
    DAMAGE[damage](damaged)
    assert resume(run_dir, token_shards, "--no-fallback") == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and f"{damaged}:" in err and "--no-fallback" in err
    assert (run_dir / "checkpoints" / NEWEST).exists()  # left where it is


def test_every_checkpoint_damaged_is_one_line_naming_them(run_dir, token_shards, capsys):
    truncate(run_dir / "checkpoints" / NEWEST / "optim.pt")
    garbage(run_dir / "checkpoints" / EARLIER / "state.json")
    assert resume(run_dir, token_shards) == 2
    err = capsys.readouterr().err.splitlines()
    assert "Traceback" not in "\n".join(err)
    error = [line for line in err if not line.startswith("warning: ")]
    assert len(error) == 1 and error[0].startswith("error: every checkpoint under"), err
    assert str(run_dir / "checkpoints" / NEWEST / "optim.pt") in error[0]
    assert str(run_dir / "checkpoints" / EARLIER / "state.json") in error[0]


def test_a_checkpoint_without_recorded_sizes_still_loads(run_dir, token_shards, capsys):
    """Checkpoints written before state.json recorded its files' sizes and sha256 resume as before."""
    state_file = run_dir / "checkpoints" / NEWEST / "state.json"
    state = json.loads(state_file.read_text())
    assert set(state["files"]) == {"model.pt", "optim.pt"}
    del state["files"]
    state_file.write_text(json.dumps(state))
    assert resume(run_dir, token_shards) == 0
    assert "warning" not in capsys.readouterr().err
    assert last_config(run_dir)["resumed_from"].endswith(NEWEST)


def test_sample_falls_back_or_names_the_damaged_checkpoint(run_dir, capsys):
    truncate(run_dir / "checkpoints" / NEWEST / "model.pt")
    assert sample_cli.main(["--checkpoint", str(run_dir), "--prompt", "The history of", "--max-new-tokens", "2"]) == 0
    err = capsys.readouterr().err
    assert str(run_dir / "checkpoints" / NEWEST / "model.pt") in err and f"using {run_dir / 'checkpoints' / EARLIER}" in err
    # One checkpoint directory, given as such: that one, or a UsageError (one line, exit code 2) naming the file.
    with pytest.raises(checkpoint.CheckpointError, match=re.escape(f"{run_dir / 'checkpoints' / NEWEST / 'model.pt'}: ")):
        sample_cli.load(run_dir / "checkpoints" / NEWEST)
    assert sample_cli.main(["--checkpoint", str(run_dir / "checkpoints" / NEWEST), "--prompt", "The history of"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and f"{run_dir / 'checkpoints' / NEWEST / 'model.pt'}: " in err


# --- what is not damage -------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [MemoryError("out of memory"), OSError(errno.EIO, "Input/output error"),
                                   RuntimeError("PytorchStreamReader failed reading file data/0")])
def test_an_error_reading_an_intact_checkpoint_is_raised_not_fallen_back_from(run_dir, token_shards, monkeypatch,
                                                                               error):
    """model.pt matches its recorded sha256, so whatever torch.load raises (out of memory, a read error, or
    even a zip error: then the file was saved so) is not damage: no resume from an older step, nothing
    moved aside."""
    newest = run_dir / "checkpoints" / NEWEST
    real = torch.load

    def failing(file, *args, **kwargs):
        if Path(file) == newest / "model.pt":
            raise error
        return real(file, *args, **kwargs)

    monkeypatch.setattr(torch, "load", failing)
    with pytest.raises(type(error), match=re.escape(str(error))):
        checkpoint.load_latest(run_dir / "checkpoints")
    with pytest.raises(type(error), match=re.escape(str(error))):
        resume(run_dir, token_shards)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [EARLIER, NEWEST]
    assert last_config(run_dir)["resumed_from"] is None  # no resumed run was logged


def unchecked_checkpoint(root: Path, step: int, elements: int) -> Path:
    """A checkpoint as written before state.json recorded its files' sizes and sha256."""
    path = checkpoint.save(root, step, {"w": torch.arange(elements, dtype=torch.float32)}, {"state": {}},
                           {"tokens": 0, "loader": {}, "config_hash": "0" * 16, "model": {}, "tokenizer": {}}, 2)
    state = json.loads((path / "state.json").read_text())
    del state["files"]
    (path / "state.json").write_text(json.dumps(state))
    return path


# A model.pt cut to this many bytes -> what torch.load (torch 2.13, weights_only) raises for it: every one
# is damage in a checkpoint without a recorded sha256 (checkpoint.torn).
TORN = {0: EOFError,  # empty
        2: pickle.UnpicklingError,  # not a zip: read as a pickle
        10: RuntimeError,  # "PytorchStreamReader failed reading zip archive: not a ZIP archive"
        5_000: OSError,  # EINVAL: the zip reader seeks before the start of a file of 4 to about 68 KiB
        100_000: RuntimeError}  # "... failed finding central directory"


@pytest.mark.parametrize("size", TORN)
def test_a_torn_file_without_a_recorded_sha256_is_damage(tmp_path, size):
    root = tmp_path / "checkpoints"
    earlier = unchecked_checkpoint(root, 2, 50_000)
    newest = unchecked_checkpoint(root, 4, 50_000)  # model.pt: 200 KB of weights
    model = newest / "model.pt"
    model.write_bytes(model.read_bytes()[:size])
    with pytest.raises(Exception) as raw:
        torch.load(model, map_location="cpu", weights_only=True)
    assert type(raw.value) is TORN[size] and checkpoint.torn(raw.value), raw.value
    assert getattr(raw.value, "errno", None) == (errno.EINVAL if TORN[size] is OSError else None)
    expected = re.escape(f"{model}: unreadable, torn ({TORN[size].__name__}")
    with pytest.raises(checkpoint.CheckpointError, match=expected):
        checkpoint.load(newest)
    warnings = []
    found, saved, skipped = checkpoint.load_latest(root, warn=warnings.append)
    assert found == earlier and saved["state"]["step"] == 2 and [p for p, _ in skipped] == [newest]
    assert len(warnings) == 1 and str(model) in warnings[0]


def test_other_errors_on_a_file_without_a_recorded_sha256_are_raised(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    unchecked_checkpoint(root, 2, 10)
    unchecked_checkpoint(root, 4, 10)

    def out_of_memory(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(torch, "load", out_of_memory)
    with pytest.raises(MemoryError):
        checkpoint.load_latest(root)
    (root / "step-0000004" / "optim.pt").unlink()  # a missing file is damage, recorded or not
    monkeypatch.undo()
    assert checkpoint.load_latest(root)[0] == root / "step-0000002"
