"""Throughput, MFU and the training log (stdout, JSONL, TensorBoard).

MFU = achieved model FLOPs / the device's peak dense bf16 FLOPs. Model FLOPs per token are the
model's own count (trainer.model: 6N plus the attention term 12*L*d*T, the head counted only at
masked positions for MLM with a gathered head); activation recomputation is not counted, as in
PaLM's definition. The peak is from the table below, by device name; on any other device, or in fp32,
no MFU is reported rather than a wrong one.
"""

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

# Dense bf16 peak FLOP/s per device (NVIDIA data sheets; the SXM parts).
PEAK_BF16 = {"H200": 989.4e12, "H100": 989.4e12, "A100": 312e12}


def device_peak_flops(device_name: str | None, dtype: str) -> float | None:
    if not device_name or dtype != "bf16":
        return None
    if "H100" in device_name and "PCIe" in device_name:
        return 756e12
    if "NVL" in device_name and ("H100" in device_name or "H200" in device_name):
        return 835.5e12  # the NVL parts run at lower clocks than SXM
    for key, peak in PEAK_BF16.items():
        if key in device_name:
            return peak
    return None


class Throughput:
    """Tokens per second and MFU over the training time since the last report: the time spent inside
    `paused()` (evaluation, checkpoints) is left out, so it does not lower the next interval's figures.
    `sync` (torch.cuda.synchronize on a GPU) is called at both ends of a pause, so that training work
    still queued on the device is counted as training, and the paused work as paused."""

    def __init__(self, flops_per_token: float, peak_flops: float | None, world_size: int, sync=None,
                 clock=time.perf_counter):
        self.flops_per_token, self.peak, self.world = flops_per_token, peak_flops, world_size
        self.sync, self.clock = sync or (lambda: None), clock
        self.start, self.tokens = clock(), 0

    @contextmanager
    def paused(self):
        self.sync()
        began = self.clock()
        try:
            yield
        finally:
            self.sync()
            self.start += self.clock() - began

    def add(self, tokens: int) -> None:
        self.tokens += tokens

    def report(self) -> dict:
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.tokens / elapsed
        out = {"tokens_per_s": round(rate, 1)}
        if self.peak:
            out["mfu"] = round(rate * self.flops_per_token / (self.peak * self.world), 4)
        self.start, self.tokens = self.clock(), 0
        return out


class TrainingLog:
    """One JSON line per logged step or evaluation in `log.jsonl`, the same line on stdout, and
    scalars to TensorBoard (`tb/`) when asked. Only rank 0 writes.

    A resume from the checkpoint of `resume_step` first drops the records of later steps (those a
    crashed run logged after its last checkpoint, which the resumed run does again) and a torn last
    line, and TensorBoard purges its events past that step, so each step is in the log once."""

    def __init__(self, out_dir: str | Path, enabled: bool, tensorboard: bool, resume: bool,
                 resume_step: int | None = None):
        self.enabled = enabled
        self.file = self.writer = None
        if enabled:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            path = out / "log.jsonl"
            if resume and resume_step is not None and path.exists():
                _drop_records_after(path, resume_step)
            self.file = open(path, "a" if resume else "w", encoding="utf-8")
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                purge = resume_step + 1 if resume and resume_step is not None else None
                self.writer = SummaryWriter(str(out / "tb"), purge_step=purge)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        line = json.dumps(record)
        self.file.write(line + "\n")
        self.file.flush()
        print(line, file=sys.stderr if record.get("event") == "config" else sys.stdout, flush=True)
        if self.writer and "step" in record:
            for key, value in record.items():
                if key not in ("step", "event") and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.file:
            self.file.close()
        if self.writer:
            self.writer.close()


def _drop_records_after(path: Path, step: int) -> None:
    """Rewrite the JSONL log without the records of steps after `step` (records without a step, such as
    each start's config, stay) and without lines that do not parse (a write torn by a crash)."""
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("step", step) <= step:
            kept.append(line)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(temporary, path)
