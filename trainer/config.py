"""A training run's settings: a YAML file, then `--set section.key=value` overrides.

Sections: `model` (trainer.model.ModelConfig fields; the vocabulary comes from the token shards),
`data`, `optim`, `train`, and the top-level `objective` (`clm`: GPT-style next-token prediction with
a causal decoder; `mlm`: BERT-style masked LM with a bidirectional encoder). Every value is checked
against the dataclass field's type, so a typo fails instead of being ignored. `config_hash` names
everything that determines the run's numbers, and a resume with another hash is refused.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

OBJECTIVES = ("clm", "mlm")


@dataclass
class DataConfig:
    seq_len: int = 256
    global_batch: int = 32  # sequences per optimiser step, over all ranks and accumulation steps
    micro_batch: int = 8  # sequences per forward pass on one rank
    workers: int = 0  # DataLoader workers per rank
    document_masking: bool = False  # attend only within a document in packed sequences
    mixture: dict | None = None  # source -> weight (in tokens); None: one stream over every document
    mlm_rate: float = 0.15


@dataclass
class OptimConfig:
    lr: float = 6e-4
    min_lr_ratio: float = 0.1  # cosine decays to lr * this
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0


@dataclass
class TrainConfig:
    max_steps: int = 1000  # the schedule's length
    stop_at: int = 0  # end this invocation at this step, checkpointed (0: at max_steps); resume continues
    seed: int = 1234
    log_every: int = 10
    eval_every: int = 200  # 0: only at the end
    eval_sequences: int = 64  # held-out sequences per evaluation (a fixed set)
    checkpoint_every: int = 500  # 0: only at the end
    keep_last: int = 2
    save_final: bool = True  # checkpoint the last step and export model.safetensors (off for benchmarks)
    dtype: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    compile: str = "auto"  # auto (on CUDA) | on | off
    distributed: str = "ddp"  # ddp | fsdp (FSDP2 fully_shard per block), under torchrun
    progress: bool = True
    tensorboard: bool = True


@dataclass
class RunConfig:
    objective: str = "clm"
    model: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


class ConfigError(ValueError):
    pass


def _coerce(value, current, where: str):
    """A YAML or --set value checked against the field's current (default) value's type."""
    if isinstance(value, str) and not isinstance(current, str):
        value = yaml.safe_load(value)  # --set values arrive as strings
    if isinstance(current, float) and isinstance(value, str):
        try:
            value = float(value)  # YAML 1.1 reads 3e-3 (no dot) as a string
        except ValueError:
            pass
    if current is None or value is None or isinstance(current, dict):
        return value
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not type(current):
        raise ConfigError(f"{where}: expected {type(current).__name__}, got {value!r}")
    return value


def _apply(config: RunConfig, dotted: str, value) -> None:
    section, _, key = dotted.partition(".")
    if not key:
        if section != "objective":
            raise ConfigError(f"unknown setting {dotted!r}")
        config.objective = str(value)
        return
    if section == "model":
        config.model[key] = yaml.safe_load(value) if isinstance(value, str) else value
        return
    target = getattr(config, section, None)
    if not dataclasses.is_dataclass(target) or key not in {f.name for f in dataclasses.fields(target)}:
        raise ConfigError(f"unknown setting {dotted!r}")
    setattr(target, key, _coerce(value, getattr(target, key), dotted))


def load_config(path: str | None, overrides: list[str] = ()) -> RunConfig:
    config = RunConfig()
    raw = yaml.safe_load(Path(path).read_text()) if path else {}
    for section, values in (raw or {}).items():
        if isinstance(values, dict):
            for key, value in values.items():
                _apply(config, f"{section}.{key}", value)
        else:
            _apply(config, section, values)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key=value")
        _apply(config, key.strip(), value.strip())
    check(config)
    return config


def check(config: RunConfig) -> None:
    if config.objective not in OBJECTIVES:
        raise ConfigError(f"objective {config.objective!r}: choose from {OBJECTIVES}")
    d, t = config.data, config.train
    if d.global_batch % d.micro_batch:
        raise ConfigError(f"data.global_batch {d.global_batch} is not a multiple of data.micro_batch {d.micro_batch}")
    if min(d.seq_len, d.global_batch, d.micro_batch, t.max_steps) < 1:
        raise ConfigError("seq_len, global_batch, micro_batch and max_steps must be positive")
    if config.model.get("max_seq_len", d.seq_len) < d.seq_len:
        raise ConfigError(f"model.max_seq_len {config.model['max_seq_len']} is shorter than data.seq_len {d.seq_len}")
    if t.dtype not in ("auto", "fp32", "bf16") or t.compile not in ("auto", "on", "off"):
        raise ConfigError("train.dtype: auto|fp32|bf16; train.compile: auto|on|off")
    if t.distributed not in ("ddp", "fsdp"):
        raise ConfigError("train.distributed: ddp|fsdp")


def config_hash(config: RunConfig) -> str:
    """Everything that determines the numbers (not logging, progress or checkpoint cadence)."""
    data = config.to_json()
    for key in ("log_every", "checkpoint_every", "keep_last", "save_final", "progress", "tensorboard", "stop_at"):
        data["train"].pop(key)
    data["data"].pop("workers")  # workers never change what is read
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
