"""Throughput, MFU and the training log (stdout, JSONL, TensorBoard).

MFU = achieved model FLOPs / the device's peak dense bf16 FLOPs. Model FLOPs per token are the
model's own count (trainer.model: 6N plus the attention term 12*L*d*T, the head counted only at
masked positions for MLM with a gathered head); activation recomputation is not counted, as in
PaLM's definition. The peak is from the table below, by device name; on any other device, or in fp32,
no MFU is reported rather than a wrong one.
"""

import json
import sys
import time
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
    """Tokens per second and MFU over the steps since the last report."""

    def __init__(self, flops_per_token: float, peak_flops: float | None, world_size: int):
        self.flops_per_token, self.peak, self.world = flops_per_token, peak_flops, world_size
        self.start, self.tokens = time.perf_counter(), 0

    def add(self, tokens: int) -> None:
        self.tokens += tokens

    def report(self) -> dict:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = self.tokens / elapsed
        out = {"tokens_per_s": round(rate, 1)}
        if self.peak:
            out["mfu"] = round(rate * self.flops_per_token / (self.peak * self.world), 4)
        self.start, self.tokens = time.perf_counter(), 0
        return out


class TrainingLog:
    """One JSON line per logged step or evaluation in `log.jsonl`, the same line on stdout, and
    scalars to TensorBoard (`tb/`) when asked. Only rank 0 writes."""

    def __init__(self, out_dir: str | Path, enabled: bool, tensorboard: bool, resume: bool):
        self.enabled = enabled
        self.file = self.writer = None
        if enabled:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            self.file = open(out / "log.jsonl", "a" if resume else "w", encoding="utf-8")
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tb"))

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
