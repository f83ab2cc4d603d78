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

import configs
from schemas.errors import UsageError

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
    grad_clip: float = 1.0  # max gradient norm; 0 (or inf): no clipping, the norm is still logged


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


class ConfigError(UsageError):
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
            raise ConfigError(f"unknown setting {dotted!r}; sections: objective, model, data, optim, train")
        config.objective = str(value)
        return
    if section == "model":
        config.model[key] = yaml.safe_load(value) if isinstance(value, str) else value
        return
    target = getattr(config, section, None)
    if not dataclasses.is_dataclass(target):
        raise ConfigError(f"unknown setting {dotted!r}; sections: objective, model, data, optim, train")
    known = [f.name for f in dataclasses.fields(target)]
    if key not in known:
        raise ConfigError(f"unknown setting {dotted!r}; known in {section}: {known}")
    setattr(target, key, _coerce(value, getattr(target, key), dotted))


def config_file(path: str):
    """`--config PATH`, or a packaged config's name (`tiny` is configs/train/tiny.yaml, found wherever the
    package is installed); a file of that name in the working directory comes first."""
    if Path(path).is_file():
        return Path(path)
    packaged = configs.find("train", path) if configs.is_name(path) else None
    if packaged is not None:
        return packaged
    known = f"; packaged configs: {configs.names('train')}" if configs.is_name(path) else ""
    raise ConfigError(f"--config {path} " + ("is not a file" if Path(path).exists() else "does not exist") + known)


def _read_yaml(path: str):
    try:
        raw = yaml.safe_load(config_file(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"--config {path}: not valid YAML: {getattr(exc, 'problem', None) or exc}{where}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"--config {path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw or {}


def load_config(path: str | None, overrides: list[str] = ()) -> RunConfig:
    config = RunConfig()
    raw = _read_yaml(path) if path else {}
    for section, values in raw.items():
        if section in ("model", "data", "optim", "train") and not isinstance(values, dict):
            raise ConfigError(f"{section}: expected a mapping of settings, got {values!r}")
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


INF = float("inf")
# Each number's allowed range: (low, high, whether low itself is allowed, whether high is), within what
# torch and the loop accept: AdamW wants 0 <= beta < 1 and weight decay >= 0, dropout must be below 1
# (1 drops every activation); an infinite lr or weight decay sends the weights to inf, while a grad_clip
# of 0 or inf is no clipping. NaN is in no range.
_RANGES = {"data.seq_len": (1, INF, True, True), "data.global_batch": (1, INF, True, True),
           "data.micro_batch": (1, INF, True, True), "data.workers": (0, INF, True, True),
           "data.mlm_rate": (0, 1, False, True), "optim.lr": (0, INF, False, False),
           "optim.min_lr_ratio": (0, 1, True, True), "optim.warmup_steps": (0, INF, True, True),
           "optim.weight_decay": (0, INF, True, False), "optim.beta1": (0, 1, True, False),
           "optim.beta2": (0, 1, True, False), "optim.grad_clip": (0, INF, True, True),
           "train.max_steps": (1, INF, True, True), "train.stop_at": (0, INF, True, True),
           "train.log_every": (1, INF, True, True), "train.eval_every": (0, INF, True, True),
           "train.eval_sequences": (0, INF, True, True), "train.checkpoint_every": (0, INF, True, True),
           "train.keep_last": (1, INF, True, True)}
# The model's numbers (where set): ModelConfig checks its choices, not these, and torch would fail on
# them only once the ranks have started (a zero n_head divides by zero; nn.Dropout refuses p > 1).
_MODEL_RANGES = {"n_layer": (1, INF, True, True), "n_head": (1, INF, True, True), "d_model": (1, INF, True, True),
                 "d_ff": (1, INF, True, True), "max_seq_len": (1, INF, True, True), "dropout": (0, 1, True, False),
                 "norm_eps": (0, INF, True, False), "rope_base": (0, INF, False, False),
                 "vocab_multiple": (1, INF, True, True)}


def _check_range(name: str, value, bounds: tuple) -> None:
    low, high, low_closed, high_closed = bounds
    if not (low < value < high or (value == low and low_closed) or (value == high and high_closed)):
        shown = "inf" if high == INF else high
        raise ConfigError(f"{name} {value!r}: must be in {'[' if low_closed else '('}{low}, {shown}"
                          f"{']' if high_closed else ')'}")


def check(config: RunConfig) -> None:
    if config.objective not in OBJECTIVES:
        raise ConfigError(f"objective {config.objective!r}: choose from {OBJECTIVES}")
    for name, bounds in _RANGES.items():
        section, key = name.split(".")
        _check_range(name, getattr(getattr(config, section), key), bounds)
    mixture = config.data.mixture
    if mixture is not None and (not isinstance(mixture, dict) or not mixture or not all(
            isinstance(k, str) and isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0
            for k, w in mixture.items())):
        raise ConfigError(f"data.mixture {mixture!r}: expected a mapping of source names to positive weights")
    check_model(config)
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


def check_model(config: RunConfig) -> None:
    """`model` settings are trainer.model.ModelConfig fields of its types, which build a model; the
    vocabulary and the architecture come from the tokenizer and the objective, not from here."""
    from trainer.model import ModelConfig  # torch; only a run (or a check of one) needs it

    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    for key in sorted(config.model):
        if key in ("vocab_size", "arch"):
            raise ConfigError(f"model.{key} is not a setting: it comes from the "
                              f"{'tokenizer' if key == 'vocab_size' else 'objective'}")
        if key not in defaults:
            raise ConfigError(f"unknown setting 'model.{key}'; known: {sorted(set(defaults) - {'vocab_size', 'arch'})}")
        value = config.model[key]
        if value is not None or defaults[key] is not None:
            # d_ff and norm_position default to None (derived): an int and a string are theirs
            current = defaults[key] if defaults[key] is not None else {"d_ff": 0}.get(key, "")
            checked = _coerce(value, current, f"model.{key}")
            if key in _MODEL_RANGES and checked is not None:
                _check_range(f"model.{key}", checked, _MODEL_RANGES[key])
            if isinstance(value, str) and not isinstance(current, str):
                # A number YAML 1.1 left a string (1e-6 has no dot): the model gets the number. Other
                # values stay as given, so the config hash of earlier runs does not change.
                config.model[key] = checked
    settings = {"max_seq_len": config.data.seq_len, **config.model,
                "arch": "decoder" if config.objective == "clm" else "encoder"}
    try:
        ModelConfig(**settings)
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None


def config_hash(config: RunConfig) -> str:
    """Everything that determines the numbers (not logging, progress or checkpoint cadence)."""
    data = config.to_json()
    for key in ("log_every", "checkpoint_every", "keep_last", "save_final", "progress", "tensorboard", "stop_at"):
        data["train"].pop(key)
    data["data"].pop("workers")  # workers never change what is read
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
