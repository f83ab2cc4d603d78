"""Filter presets: YAML files in configs/filters/ naming filters and their thresholds.

Thresholds live in the presets, never in the pipeline code; `--filters NAME` picks
configs/filters/NAME.yaml (package data, found wherever the package is installed), and a path to any
YAML file of the same shape works too. String values may use `${NAME}` and `${NAME:-default}` from the
environment (configs.expand_vars).
"""

import inspect
import os
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

import configs
from configs import expand_vars
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
# The settings that name files the filter reads (lazily, on the workers): a preset's mistake there is
# refused when the preset is loaded, naming the path, not when a worker first needs the file.
PATH_SETTINGS = {"badwords": {"lists_dir": "folder"}, "url_blocklist": {"domain_files": "file", "rule_files": "file"},
                 "quality_classifier": {"model": "file"}}
def _expand(value):
    if isinstance(value, str):
        return expand_vars(value)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value
DEFAULT_PRESET = "fineweb"


class UnknownPreset(UsageError):
    pass


def available_presets() -> list[str]:
    """The packaged presets (configs/filters/, package data found with importlib.resources)."""
    return configs.names("filters")


def preset_path(name_or_path: str) -> Path | Traversable:
    """A preset's file: a path as given (a folder in it or a .yaml/.yml suffix), else a packaged preset."""
    if os.path.sep in name_or_path or not configs.is_name(name_or_path):
        path = Path(name_or_path)
        found = path.is_file()
    else:
        path = configs.find("filters", name_or_path)
        found = path is not None
    if not found:
        raise UnknownPreset(f"no filter preset {name_or_path!r}; presets: {available_presets()}")
    return path


# A setting's value against its annotation in the filter (YAML gives bool, int, float, str, list);
# an int is a float too, a bool is neither.
_SETTING_TYPES = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
    list: lambda v: isinstance(v, list),
}
_TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", list: "a list"}


def _check_settings(cls, kind: str, settings: dict, where: str) -> None:
    """The preset's settings against the filter's constructor: each one a parameter it has, of the type
    it is annotated with, none it needs left out, and each file or folder it names there."""
    parameters = inspect.signature(cls).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(settings) - set(parameters))
        if unknown:
            raise UnknownPreset(f"{where} ({kind}): unknown setting {unknown[0]!r}; {kind} takes "
                                f"{', '.join(parameters)}")
    missing = [name for name, p in parameters.items() if p.default is p.empty and name not in settings
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if missing:
        raise UnknownPreset(f"{where} ({kind}): missing setting {missing[0]!r}, which {kind} needs")
    for name, value in settings.items():
        expected = parameters[name].annotation if name in parameters else None
        if expected in _SETTING_TYPES and not _SETTING_TYPES[expected](value):
            raise UnknownPreset(f"{where} ({kind}): {name} must be {_TYPE_WORDS[expected]}, got "
                                f"{type(value).__name__} {value!r}")
    for name, what in PATH_SETTINGS.get(kind, {}).items():
        value = settings.get(name)
        for path in value if isinstance(value, list) else [value] if isinstance(value, str) else []:
            found = os.path.isdir(path) if what == "folder" else os.path.isfile(path)
            if not found:
                raise UnknownPreset(f"{where} ({kind}): {name} {path!r} is not a {what}"
                                    f"{'' if os.path.exists(path) else ' (it does not exist)'}")


def build_chain(spec: dict, name: str = "preset") -> FilterChain:
    """The chain a preset's `filters` list builds. A mistake in it (an unknown filter or setting, a
    setting left out, a file named that is not there) is refused naming the preset, the entry and the
    setting; an error inside a filter's constructor is the filter's own, and raised as it is."""
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
        settings = {k: _expand(v) for k, v in entry.items()}
        _check_settings(FILTER_TYPES[kind], kind, settings, f"{name}: filters[{index}]")
        filters.append(FILTER_TYPES[kind](**settings))
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
