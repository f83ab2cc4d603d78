"""Atomic checkpoints with keep-last-k and automatic resume; safetensors export.

A checkpoint is a directory `step-0000100/` holding `model.pt`, `optim.pt` and
`state.json` (step, loader state, config and its hash). No random state: the trainer reseeds every
step from (seed, step, rank), and the DataLoader has its own generator. It is written under a temporary name and
renamed into place, so a checkpoint directory either is complete or does not exist; a crash while
saving leaves the previous one. Only the newest `keep_last` are kept. The model and optimiser states
are full (unsharded) state dicts, so a run can resume on any number of ranks and under DDP or FSDP.
"""

import json
import os
import re
import shutil
from pathlib import Path

import torch

_NAME = re.compile(r"^step-(\d+)$")


def checkpoints(root: str | Path) -> list[Path]:
    """Complete checkpoints under root, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and (p / "state.json").exists()]
    return [p for _, p in sorted(found)]


def latest(root: str | Path) -> Path | None:
    found = checkpoints(root)
    return found[-1] if found else None


def save(root: str | Path, step: int, model_state: dict, optim_state: dict, state: dict, keep_last: int) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    tmp = root / f".tmp-step-{step:07d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    torch.save(model_state, tmp / "model.pt")
    torch.save(optim_state, tmp / "optim.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=2, default=str) + "\n")
    for f in tmp.iterdir():  # the data is on disk before the rename makes it visible
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    for old in checkpoints(root)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load(path: str | Path) -> dict:
    path = Path(path)
    return {"model": torch.load(path / "model.pt", map_location="cpu", weights_only=True),
            "optim": torch.load(path / "optim.pt", map_location="cpu", weights_only=True),
            "state": json.loads((path / "state.json").read_text())}


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
