"""A damaged newest checkpoint (a truncated model.pt or optim.pt, a garbage state.json, a byte changed
that torch.load would accept) is reported by path and the run resumes from the newest intact one;
with --no-fallback, or when every checkpoint is damaged, it is one line on stderr and exit code 2.
Only evidence of damage counts: an error reading an intact checkpoint is raised, and nothing is moved.
On two ranks, rank 0 picks the checkpoint for both.
A training run of the smallest model the trainer tests use, on the Wikipedia and Gutenberg shards."""

import errno
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
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
    # Steps 3 and 4 done again, from step 2: the log holds each step once, the resumed run's.
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4, 5]
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


# --- two ranks: rank 0 picks the checkpoint for both ---------------------------------------------------

DRIVER = """
import os, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
Path({pids!r}, os.environ["RANK"]).write_text(str(os.getpid()))  # torchrun starts each rank in its own session
from trainer import checkpoint

real = checkpoint._describe


def describe(path):  # on this rank alone, the newest checkpoint's files read back other bytes than were saved
    found = real(path)
    if os.environ["RANK"] == {rank!r} and Path(path).parent.name == {newest!r}:
        found = dict(found, sha256="0" * 64)
    return found


checkpoint._describe = describe
from trainer.train import main

sys.exit(main(sys.argv[1:]))
"""


def torchrun(script: Path, argv: list[str], pids: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """2 ranks on CPU (gloo). A launch that hangs (mismatched collectives) is killed: torchrun's process
    group, and each rank by the pid it wrote under `pids` (torchrun gives each rank a session of its own)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script),
               *argv]
    for _ in range(2):  # torchrun picks a free port, then binds it: another process can take it first
        with subprocess.Popen(command, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True) as launch:
            try:
                out, err = launch.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(launch.pid, signal.SIGKILL)
                for rank in pids.iterdir():
                    try:
                        os.kill(int(rank.read_text()), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                launch.communicate()
                pytest.fail(f"2 ranks did not finish in {timeout} s: a collective waits for a rank that never calls it")
        if launch.returncode == 0 or "address already in use" not in err.lower():
            break
    return subprocess.CompletedProcess(command, launch.returncode, out, err)


def resume_on_two_ranks(run: Path, tokens: Path, damaged_on_rank: int, tmp_path: Path) -> subprocess.CompletedProcess:
    script, pids = tmp_path / "driver.py", tmp_path / "pids"
    pids.mkdir()
    script.write_text(DRIVER.format(repo=str(REPO), pids=str(pids), rank=str(damaged_on_rank), newest=NEWEST))
    argv = ["--config", CONFIG, "--data", str(tokens), "--out", str(run)]
    for setting in [*SETTINGS, "train.stop_at=5"]:
        argv += ["--set", setting]
    return torchrun(script, argv, pids)


def test_two_ranks_resume_from_the_step_rank_0_picks(run_dir, token_shards, tmp_path):
    """Rank 0 finds the newest checkpoint damaged, rank 1 would read it intact: both resume from the
    earlier one, on the same global batches as the first run."""
    first = {r["step"]: r for r in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines()) if "loss" in r}
    done = resume_on_two_ranks(run_dir, token_shards, 0, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    config = last_config(run_dir)
    assert config["world_size"] == 2 and config["resumed_from"].endswith(EARLIER), config
    assert [d["path"] for d in config["damaged_checkpoints"]] == [str(run_dir / "checkpoints" / NEWEST)]
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    logged = [r for r in log if "loss" in r]
    assert [r["step"] for r in logged] == [1, 2, 3, 4, 5]  # 3 and 4 done again replace the first run's
    for r in logged[2:4]:  # both ranks from step 2: the global batches of the first run
        assert r["batch_digest"] == first[r["step"]]["batch_digest"], (r, first[r["step"]])
        assert r["loss"] == pytest.approx(first[r["step"]]["loss"], rel=1e-5)
    assert (run_dir / "checkpoints" / f"{NEWEST}.damaged").is_dir()


def test_two_ranks_stop_together_when_one_cannot_read_rank_0s_pick(run_dir, token_shards, tmp_path):
    """Rank 0 reads the newest checkpoint intact, rank 1 cannot: rank 1 does not resume from another
    step on its own; both stop, naming the file, and nothing is moved aside."""
    before = (run_dir / "log.jsonl").read_text()
    done = resume_on_two_ranks(run_dir, token_shards, 1, tmp_path)
    assert done.returncode != 0
    newest = run_dir / "checkpoints" / NEWEST
    assert f"{newest / 'model.pt'}: its sha256 is not the one state.json recorded" in done.stderr, done.stderr[-3000:]
    assert f"{newest}: rank 0 read it intact, but 1 other rank(s) could not" in done.stderr, done.stderr[-3000:]
    assert (run_dir / "log.jsonl").read_text() == before
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [EARLIER, NEWEST]
