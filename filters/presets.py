"""Filter presets: YAML files in configs/filters/ naming filters and their thresholds.

Thresholds live in the presets, never in the pipeline code; `--filters NAME` picks
configs/filters/NAME.yaml, and a path to any YAML file of the same shape works too. String values
may use `${NAME}` and `${NAME:-default}` from the environment; `${DATA_DIR}` defaults to
../shared/data.
"""

import os
import re
from pathlib import Path

import yaml

from filters.badwords import BadWords
from filters.base import FilterChain
from filters.c4 import C4Quality
from filters.fineweb import FineWebQuality
from filters.gopher_quality import GopherQuality
from filters.gopher_repetition import GopherRepetition
from filters.quality_classifier import QualityClassifier
from filters.url_blocklist import UrlBlocklist
from schemas.errors import UsageError

FILTER_TYPES = {"gopher_quality": GopherQuality, "gopher_repetition": GopherRepetition, "c4": C4Quality,
                "fineweb_quality": FineWebQuality, "badwords": BadWords, "url_blocklist": UrlBlocklist,
                "quality_classifier": QualityClassifier}
DEFAULT_DATA_DIR = "../shared/data"
_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


class ConfigVariableMissing(UsageError):
    pass


def expand_vars(text: str) -> str:
    """`${NAME}` and `${NAME:-default}` from the environment; ${DATA_DIR} defaults to ../shared/data."""
    def sub(match):
        name, default = match.group(1), match.group(2)
        if name == "DATA_DIR" and default is None:
            default = DEFAULT_DATA_DIR
        value = os.environ.get(name, default)
        if value is None:
            raise ConfigVariableMissing(f"${{{name}}} is not set")
        return value

    return _VAR.sub(sub, text)


def _expand(value):
    if isinstance(value, str):
        return expand_vars(value)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value
PRESET_DIR = Path(__file__).resolve().parent.parent / "configs" / "filters"
DEFAULT_PRESET = "fineweb"


class UnknownPreset(UsageError):
    pass


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name_or_path: str) -> Path:
    if os.path.sep in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
    else:
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise UnknownPreset(f"no filter preset {name_or_path!r}; presets: {available_presets()}")
    return path


def build_chain(spec: dict, name: str = "preset") -> FilterChain:
    """The chain a preset's `filters` list builds; a mistake in it names the preset and the entry."""
    entries = spec.get("filters") or []
    if not isinstance(entries, list):
        raise UnknownPreset(f"{name}: `filters` must be a list of filters, got {type(entries).__name__}")
    filters = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise UnknownPreset(f"{name}: filters[{index}] must be a mapping with a `type`, got {entry!r}")
        entry = dict(entry)
        kind = entry.pop("type", None)
        if kind not in FILTER_TYPES:
            raise UnknownPreset(f"{name}: filters[{index}]: unknown filter type {kind!r}; known: {sorted(FILTER_TYPES)}")
        try:
            filters.append(FILTER_TYPES[kind](**{k: _expand(v) for k, v in entry.items()}))
        except (TypeError, ValueError, OSError) as exc:  # an unknown, missing or wrong setting, a missing file
            raise UnknownPreset(f"{name}: filters[{index}] ({kind}): {exc}") from None
    return FilterChain(filters)


def load_preset(name_or_path: str) -> tuple[dict, FilterChain]:
    """(the preset as read, the chain it builds)."""
    path = preset_path(name_or_path)
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UnknownPreset(f"filter preset {path}: not valid YAML: {exc}") from None
    if not isinstance(spec, dict):
        raise UnknownPreset(f"filter preset {path}: expected a mapping with a `filters` list, "
                            f"got {type(spec).__name__}")
    return spec, build_chain(spec, f"filter preset {name_or_path}")
