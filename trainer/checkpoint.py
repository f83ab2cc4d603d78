"""Atomic checkpoints with keep-last-k and automatic resume; safetensors export.

A checkpoint is a directory `step-0000100/` holding `model.pt`, `optim.pt` and
`state.json` (step, loader state, config and its hash). No random state: the trainer reseeds every
step from (seed, step, rank), and the DataLoader has its own generator. It is written under a temporary name and
renamed into place, so a checkpoint directory either is complete or does not exist; a crash while
saving leaves the previous one. Only the newest `keep_last` are kept. The model and optimiser states
are full (unsharded) state dicts, so a run can resume on any number of ranks and under DDP or FSDP.

`state.json` records the size and sha256 of `model.pt` and `optim.pt`, so a file damaged after the
save (truncated, overwritten) is caught even where torch.load would accept it; checkpoints written
before that are read without the check. A damaged checkpoint raises `CheckpointError`, naming the
file; `load_latest` then falls back to the newest intact one (or, with fallback off, stops there).

Only evidence of damage counts: a missing file, a state.json that is not JSON or lacks what a resume
reads, a size or sha256 other than the recorded one, or, for a file without a recorded sha256, one of
the errors torch.load raises for a torn file (`torn`). Any other error (out of memory, a
read error, a file that matches its sha256 yet does not load) is raised as it is: it says nothing
about the checkpoint, and falling back would silently discard the newest progress.
"""

import errno
import hashlib
import json
import os
import pickle
import re
import shutil
from pathlib import Path

import torch

from schemas.errors import UsageError, one_line

_NAME = re.compile(r"^step-(\d+)$")
PARTS = ("model", "optim")


class CheckpointError(UsageError):
    """A checkpoint that cannot be read: its message names the file and what is wrong with it."""


def checkpoints(root: str | Path) -> list[Path]:
    """Complete checkpoints under root, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and (p / "state.json").exists()]
    return [p for _, p in sorted(found)]


def save(root: str | Path, step: int, model_state: dict, optim_state: dict, state: dict, keep_last: int) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    tmp = root / f".tmp-step-{step:07d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    torch.save(model_state, tmp / "model.pt")
    torch.save(optim_state, tmp / "optim.pt")
    files = {f"{part}.pt": _describe(tmp / f"{part}.pt") for part in PARTS}
    (tmp / "state.json").write_text(json.dumps({"step": step, **state, "files": files}, indent=2, default=str) + "\n")
    for f in tmp.iterdir():  # the data is on disk before the rename makes it visible
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    for old in checkpoints(root)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _describe(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 23):
            digest.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


# What a resume and trainer.sample read from state.json, and its type: every checkpoint has them.
STATE_KEYS = {"step": int, "tokens": int, "loader": dict, "config_hash": str, "model": dict, "tokenizer": dict}


def read_state(path: str | Path, required: tuple[str, ...] = tuple(STATE_KEYS)) -> dict:
    """A checkpoint directory's state.json, checked to hold the `required` keys of `STATE_KEYS`;
    CheckpointError, naming the file, where it is missing, not UTF-8 JSON, or not a checkpoint's state;
    UsageError where it may not be read. Other read errors are raised as they are."""
    state_file = Path(path) / "state.json"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{state_file}: unreadable ({type(e).__name__}: {one_line(e)})") from None
    except PermissionError as e:  # not damage: no fallback, but one line
        raise UsageError(f"{state_file}: cannot be read ({e.strerror})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{state_file}: not a checkpoint's state (a JSON {type(state).__name__}, not an object)")
    wrong = [f"{key} ({'missing' if key not in state else type(state[key]).__name__ + ', not ' + kind.__name__})"
             for key, kind in ((key, STATE_KEYS[key]) for key in required)
             if not isinstance(state.get(key), kind) or (kind is int and isinstance(state[key], bool))]
    if wrong:
        raise CheckpointError(f"{state_file}: not a checkpoint's state: {', '.join(wrong)}")
    return state


def torn(error: BaseException) -> bool:
    """Whether `error` is one torch.load raises for a truncated or torn file (torch 2.x, weights_only):
    the zip reader's "PytorchStreamReader failed ..." RuntimeError (no or a broken central directory),
    OSError EINVAL (a file of 4 to about 68 KiB: the reader seeks before its start looking for the
    directory), EOFError (empty) and UnpicklingError (a few bytes: not a zip, read as a pickle)."""
    if isinstance(error, RuntimeError):
        return str(error).startswith("PytorchStreamReader failed")
    if isinstance(error, OSError):
        return error.errno == errno.EINVAL
    return isinstance(error, (EOFError, pickle.UnpicklingError))


def _check_file(path: Path, recorded) -> bool:
    """The file against the size and sha256 state.json recorded for it: CheckpointError where they
    differ or it is missing; True where its sha256 matched, False where none was recorded (older
    checkpoints)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    if not isinstance(recorded, dict):
        return False
    size = path.stat().st_size
    if "bytes" in recorded and size != recorded["bytes"]:
        raise CheckpointError(f"{path}: {size} bytes, but state.json recorded {recorded['bytes']} "
                              "(truncated or overwritten)")
    if "sha256" not in recorded:
        return False
    if _describe(path)["sha256"] != recorded["sha256"]:
        raise CheckpointError(f"{path}: its sha256 is not the one state.json recorded (damaged after the save)")
    return True


def load(path: str | Path, parts: tuple[str, ...] = PARTS) -> dict:
    """{"state": state.json, "model": ..., "optim": ...} (the `parts` asked for) of one checkpoint
    directory, each file checked and loaded with weights_only=True; CheckpointError names the file
    that is missing or damaged. An error that is no evidence of damage is raised as it is."""
    path = Path(path)
    state = read_state(path)
    saved = {"state": state}
    recorded = state.get("files") if isinstance(state.get("files"), dict) else {}
    for part in parts:
        file = path / f"{part}.pt"
        verified = _check_file(file, recorded.get(file.name))
        try:
            saved[part] = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as e:
            if verified or not torn(e):  # the bytes saved, or an error a torn file does not give
                raise
            raise CheckpointError(f"{file}: unreadable, torn ({type(e).__name__}: {one_line(e)[:300]})") from None
    return saved


def load_latest(root: str | Path, fallback: bool = True, parts: tuple[str, ...] = PARTS,
                warn=None) -> tuple[Path, dict, list[tuple[Path, str]]] | None:
    """The newest checkpoint under root that loads: (its path, `load`'s dict, the newer ones skipped as
    damaged, each with why), or None where root holds none. A damaged one is reported through
    `warn(message)`, and the one before it is tried; with `fallback` off, the first damaged one raises
    CheckpointError instead, as does a root whose every checkpoint is damaged."""
    skipped = []
    for path in reversed(checkpoints(root)):
        try:
            saved = load(path, parts)
        except CheckpointError as e:
            if not fallback:
                raise CheckpointError(f"{e}; not falling back to an earlier checkpoint (--no-fallback)") from None
            skipped.append((path, str(e)))
            if warn:
                warn(f"checkpoint {path} is damaged and skipped: {e}")
            continue
        return path, saved, skipped
    if skipped:
        raise CheckpointError(f"every checkpoint under {root} is damaged: "
                              + "; ".join(why for _, why in skipped))
    return None


def set_aside(path: Path) -> Path:
    """Rename a damaged checkpoint out of the way (kept for inspection, no longer listed), so that the
    resumed run neither prunes an intact checkpoint in its place nor meets it again."""
    target = path.with_name(f"{path.name}.damaged")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{n}")
    os.rename(path, target)
    return target


def export_safetensors(model_state: dict, path: str | Path, metadata: dict) -> None:
    """The model's weights alone (tied weights stored once), for inference and sharing."""
    from safetensors.torch import save_file

    seen, tensors = {}, {}
    for name, tensor in model_state.items():
        key = (tensor.data_ptr(), tensor.shape)
        if key in seen:  # weight tying: safetensors refuses shared storage
            continue
        seen[key] = name
        tensors[name] = tensor.detach().contiguous().cpu()
    # One metadata key: safetensors writes several in hash order, which would make the file differ run to run.
    save_file(tensors, str(path), metadata={"trainer": json.dumps(metadata, sort_keys=True)})
