"""A curation run's settings: a YAML recipe, the quick `--input GLOB` form, and CLI overrides.

Recipe (every key but `sources` is optional; the defaults are the dataclass's):

    sources:
      - {name: wiki, type: wikipedia, glob: "${DATA_DIR}/enwiki_xml_dump_sample/*.bz2"}
      - {name: fortunes, type: text, glob: "...", options: {split: "%"}, filters: none}
    filters: fineweb           # a preset in configs/filters/, or a YAML path; a source may name its own
    languages: [en, de]        # keep only these; empty keeps every language
    min_lang_score: 0.5
    dedup: exact

`${NAME}` and `${NAME:-default}` expand from the environment; `${DATA_DIR}` defaults to
../shared/data. Local paths are made absolute, because Beam workers may run elsewhere. A source without
a name is named after its folder, or FOLDER-STEM where that folder name is another source's too
(distinct_names). `--config NAME` reads a packaged recipe (configs/recipes/NAME.yaml).
"""

import os
import posixpath
import re
import types
import typing
from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml

import configs
from pipelines.sources import READERS, glob_base
from filters.presets import DEFAULT_PRESET, expand_vars
from pipelines.sources.html import EXTRACTORS
from pipelines.sources.records import DEFAULT_MAX_DOC_BYTES
from pipelines.transforms.near_dedup import VERIFY_MODES
from pipelines.transforms.read import SourceSpec, match_files
from schemas.errors import UsageError

DEDUP_MODES = ("none", "exact", "minhash")
COMPONENT_MODES = ("single", "distributed")
# Options a source may set, by reader type.
SOURCE_OPTIONS = {"text": {"split"}, "gutenberg": {"split"}, "jsonl": {"text_field"}, "parquet": {"text_field"}}
_NAME = re.compile(r"[^|/\s]+")  # names are counter labels and id prefixes


class ConfigError(UsageError):
    pass


@dataclass(frozen=True)
class CurateConfig:
    sources: tuple[SourceSpec, ...]
    output: str
    filters: str = DEFAULT_PRESET
    languages: tuple[str, ...] = ()
    min_lang_score: float = 0.0
    lid_model: str | None = None
    extractor: str = "cascade"  # pipelines.sources.html.DEFAULT_EXTRACTOR; docs/extraction.md
    extract_timeout_s: float = 10.0
    boilerplate_lines: int = 0  # remove lines found in more than this many documents (0: off)
    dedup: str = "minhash"  # minhash includes exact
    dedup_threshold: float = 0.0  # 0: FineWeb's 14 bands x 8 rows (about 0.72); else datasketch's optimal split
    dedup_num_perm: int = 112
    dedup_ngram: int = 5
    # Keep only candidate pairs whose Jaccard similarity reaches the threshold: "exact" on the shingle
    # sets, or "signature" estimated from the full signatures. None: every LSH candidate counts.
    dedup_verify: str | None = None
    dedup_components: str = "single"  # or "distributed" (large-star/small-star rounds)
    dedup_rounds: int = 20
    dedup_index: str | None = None  # save band keys here, and dedup against what is already there
    dedup_fanout: int = 16
    pii: bool = True  # redact e-mail addresses, public IPs and phone numbers after dedup
    # Evaluation files or globs: documents sharing a word n-gram with them are rejected (docs/decontamination.md)
    decontaminate: tuple[str, ...] = ()
    decontaminate_ngram: int = 13
    shard_bytes: int = 256 << 20  # text bytes per output shard; zstd files are about 3-4x smaller
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    reshuffle: bool | None = None  # spread records over workers; None: unless one local worker runs all
    overwrite: bool = False
    allow_empty: bool = False

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["sources"] = [s.__dict__ for s in self.sources]
        out["languages"] = list(self.languages)
        out["decontaminate"] = list(self.decontaminate)
        return out


def absolute(path: str) -> str:
    """Local paths become absolute; URLs (gs://, s3://, ...) stay as they are."""
    return path if "://" in path else os.path.abspath(path)


def _source(entry: dict, index: int) -> SourceSpec:
    unknown = set(entry) - {"name", "type", "glob", "options", "filters"}
    if unknown or "glob" not in entry:
        raise ConfigError(f"source {index}: needs `glob` (and may have name, type, options, filters); "
                          f"got {sorted(entry)}")
    kind = entry.get("type")
    if kind is not None and kind not in READERS:
        raise ConfigError(f"source {index}: unknown type {kind!r}; types: {sorted(READERS)}")
    options = dict(entry.get("options") or {})
    allowed = set().union(*SOURCE_OPTIONS.values()) if kind is None else SOURCE_OPTIONS.get(kind, set())
    if set(options) - allowed:
        raise ConfigError(f"source {index}: unknown options {sorted(set(options) - allowed)} for type {kind}; "
                          f"known: {sorted(allowed)}")
    glob = absolute(expand_vars(str(entry["glob"])))
    name = str(entry["name"]) if entry.get("name") else _name_from_glob(glob)
    if not _NAME.fullmatch(name):
        raise ConfigError(f"source {index}: name {name!r} may not hold '|', '/' or white space")
    return SourceSpec(name=name, glob=glob, type=kind, options=options, filters=entry.get("filters"))


def _name_from_glob(glob: str) -> str:
    """The name of the directory the glob reads from."""
    return re.sub(r"[|/\s]+", "_", posixpath.basename(glob_base(glob).rstrip("/"))) or "input"


# Suffixes a file's stem is taken without (format, then compression, in any order and number).
_SUFFIXES = {"jsonl", "json", "ndjson", "txt", "text", "warc", "wet", "wat", "arc", "parquet", "xml", "html", "htm",
             "gz", "bz2", "zst", "zstd", "xz"}


def _stem(glob: str) -> str:
    """The last part of a glob without its format and compression suffixes: `a` of `dir/a.jsonl.gz`."""
    stem = posixpath.basename(glob.rstrip("/"))
    while "." in stem.strip(".") and stem.rsplit(".", 1)[1].lower() in _SUFFIXES:
        stem = stem.rsplit(".", 1)[0]
    return re.sub(r"[|/\s]+", "_", stem) or "input"


def distinct_names(sources: list[SourceSpec], explicit: list[bool]) -> list[SourceSpec]:
    """Source names made unique. A source without a name is named after its folder; when that name is
    another source's too, it becomes FOLDER-STEM (`--input dir/a.txt --input dir/b.txt` reads sources
    `dir-a` and `dir-b`), with -2, -3, ... after it in the order given should that clash as well. Names
    given (`NAME=GLOB`, a recipe's `name`) are never changed: two the same are refused, as is a glob given
    twice without a name. Ids hash the source name and the path under the glob, so give names for ids that
    stay the same when other inputs are added."""
    names = [s.name for s in sources]
    given = [n for n, e in zip(names, explicit) if e]
    repeated = sorted({n for n in given if given.count(n) > 1})
    if repeated:
        # Ids hash the source name and the path under the glob, so names must be unique.
        raise ConfigError(f"source names must be unique; repeated: {repeated}")
    unnamed = [s.glob for s, e in zip(sources, explicit) if not e]
    twice = sorted({g for g in unnamed if unnamed.count(g) > 1})
    if twice:
        raise ConfigError(f"input {twice[0]!r} given twice; its files would be read twice")
    clashing = [i for i, (n, e) in enumerate(zip(names, explicit)) if not e and names.count(n) > 1]
    taken = {n for i, n in enumerate(names) if i not in clashing}
    out = list(sources)
    for i in clashing:
        base = f"{names[i]}-{_stem(sources[i].glob)}"
        name, k = base, 2
        while name in taken:
            name, k = f"{base}-{k}", k + 1
        taken.add(name)
        out[i] = replace(sources[i], name=name)
    return out


def _inputs(inputs: list[str]) -> tuple[list[SourceSpec], list[bool]]:
    """The sources of `--input` values and whether each was given a name."""
    out, explicit = [], []
    for index, value in enumerate(inputs):
        name, sep, glob = value.partition("=")
        if not sep or "/" in name or not name.isidentifier():
            name, glob = None, value
        out.append(_source({"name": name, "glob": glob}, index))
        explicit.append(name is not None)
    return out, explicit


def sources_from_inputs(inputs: list[str]) -> list[SourceSpec]:
    """`--input GLOB` or `--input NAME=GLOB`; the type is inferred from each file name. Unnamed inputs are
    named after their folder, or FOLDER-STEM where folders clash (see distinct_names)."""
    return distinct_names(*_inputs(inputs))


def recipe_file(path: str):
    """`--config PATH`, or a packaged recipe's name (`demo` is configs/recipes/demo.yaml, found wherever
    the package is installed); a file of that name in the working directory comes first."""
    if os.path.isfile(path):
        return Path(path)
    packaged = configs.find("recipes", path) if configs.is_name(path) else None
    if packaged is not None:
        return packaged
    known = f"; packaged recipes: {configs.names('recipes')}" if configs.is_name(path) else ""
    raise ConfigError(f"recipe {path} " + ("is not a file" if os.path.exists(path) else "does not exist") + known)


def load_recipe(path: str) -> dict:
    source = recipe_file(path)
    try:
        with source.open(encoding="utf-8") as fh:
            recipe = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path}: not valid YAML: {_yaml_problem(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"recipe {path} cannot be read: {exc}") from None
    if not isinstance(recipe, dict) or not recipe.get("sources"):
        raise ConfigError(f"{path}: a recipe needs a non-empty `sources` list")
    return recipe


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error as "what, at line L, column C" (PyYAML's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


# What a recipe value may be, by CurateConfig field, from the field's annotation (a float field takes
# an int too); where a recipe may say more than the annotation: languages as "en,de", dedup_verify: true.
_RECIPE_EXTRA = {"languages": (list, str), "dedup_verify": (bool,), "decontaminate": (list, str)}
_SOURCE_TYPES = {"name": (str,), "type": (str,), "glob": (str,), "options": (dict,), "filters": (str, type(None))}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
               dict: "a mapping", type(None): "null", tuple: "a list"}


def _field_types(annotation) -> tuple:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(t for a in typing.get_args(annotation) for t in _field_types(a))
    origin = typing.get_origin(annotation) or annotation
    return (list,) if origin is tuple else (origin,)


def _expect(value, allowed: tuple, where: str) -> None:
    """`value` must be one of the `allowed` types; bool is not an int, an int is a float."""
    kind = type(value)
    if kind in allowed or (kind is int and float in allowed):
        return
    shown = f"{kind.__name__} {value!r}" if len(repr(value)) <= 60 else kind.__name__
    hint = " (quote it: YAML reads yes/no/on/off as booleans)" if kind is bool and str in allowed else ""
    expected = " or ".join(dict.fromkeys(_TYPE_NAMES.get(t, t.__name__) for t in allowed))
    raise ConfigError(f"recipe {where}: expected {expected}, got {shown}{hint}")


def check_recipe(recipe) -> None:
    """A recipe's shape before anything is built from it: every key known, every value of its type,
    each mistake named by its path in the recipe (`recipe sources[2].glob: expected a string, got int 7`)."""
    _expect(recipe, (dict,), "top level")
    known = {f.name: f for f in fields(CurateConfig)} | {"sources": None}
    known.pop("output")
    unknown = set(recipe) - set(known)
    if unknown:
        raise ConfigError(f"unknown recipe keys {sorted(unknown)}; known: {sorted(known)}")
    for key, value in recipe.items():
        if key == "sources":
            continue
        allowed = _field_types(known[key].type) + _RECIPE_EXTRA.get(key, ())
        _expect(value, allowed, key)
        if key in ("languages", "decontaminate") and isinstance(value, list):
            for i, item in enumerate(value):
                _expect(item, (str,), f"{key}[{i}]")
    sources = recipe.get("sources")
    if sources is None:
        return
    _expect(sources, (list,), "sources")
    for i, entry in enumerate(sources):
        _expect(entry, (dict,), f"sources[{i}]")
        unknown = set(entry) - set(_SOURCE_TYPES)
        if unknown:
            raise ConfigError(f"recipe sources[{i}]: unknown keys {sorted(unknown)}; known: {sorted(_SOURCE_TYPES)}")
        if "glob" not in entry:
            raise ConfigError(f"recipe sources[{i}]: needs a `glob` (the files to read)")
        for key, value in entry.items():
            if key != "name" or value is not None:  # no name: named after its folder
                _expect(value, _SOURCE_TYPES[key], f"sources[{i}].{key}")
        for key, value in (entry.get("options") or {}).items():
            _expect(value, (str,), f"sources[{i}].options.{key}")


def build_config(recipe: dict | None, inputs: list[str], output: str, overrides: dict) -> CurateConfig:
    """Recipe settings, then `--input` sources appended, then CLI overrides (None = not given)."""
    check_recipe(recipe or {})
    recipe = dict(recipe or {})
    entries = [dict(e) for e in recipe.pop("sources", []) or []]
    sources = [_source(e, i) for i, e in enumerate(entries)]
    given, given_explicit = _inputs(inputs)
    if not sources + given:
        raise ConfigError("no sources: give --config RECIPE or --input GLOB")
    sources = distinct_names(sources + given, [bool(e.get("name")) for e in entries] + given_explicit)
    known = {f.name for f in fields(CurateConfig)} - {"sources", "output"}
    unknown = set(recipe) - known
    if unknown:
        raise ConfigError(f"unknown recipe keys {sorted(unknown)}; known: {sorted(known)}")
    settings = {**recipe, **{k: v for k, v in overrides.items() if v is not None}}
    if "languages" in settings:
        langs = settings["languages"]
        langs = langs.split(",") if isinstance(langs, str) else langs or ()
        settings["languages"] = tuple(lang.strip() for lang in langs if lang.strip())
    if "decontaminate" in settings:  # a path or a list of them; local ones made absolute for the workers
        paths = settings["decontaminate"]
        settings["decontaminate"] = tuple(absolute(expand_vars(p)) for p in ([paths] if isinstance(paths, str) else paths))
    if isinstance(settings.get("dedup_verify"), bool):  # YAML `dedup_verify: true` means exact
        settings["dedup_verify"] = "exact" if settings["dedup_verify"] else None
    config = replace(CurateConfig(sources=tuple(sources), output=absolute(output)), **settings)
    _check_values(config)
    return config


def _check_values(config: CurateConfig) -> None:
    """Wrong values fail here, before any worker starts."""
    if config.extractor not in EXTRACTORS:
        raise ConfigError(f"extractor {config.extractor!r}: choose from {EXTRACTORS}")
    if config.dedup not in DEDUP_MODES:
        raise ConfigError(f"dedup {config.dedup!r}: choose from {DEDUP_MODES}")
    if config.dedup_components not in COMPONENT_MODES:
        raise ConfigError(f"dedup_components {config.dedup_components!r}: choose from {COMPONENT_MODES}")
    if config.dedup_verify is not None and config.dedup_verify not in VERIFY_MODES:
        raise ConfigError(f"dedup_verify {config.dedup_verify!r}: choose from {VERIFY_MODES}")
    numbers = {"min_lang_score": (config.min_lang_score, 0, 1), "extract_timeout_s": (config.extract_timeout_s, 0, None),
               "dedup_fanout": (config.dedup_fanout, 1, None), "shard_bytes": (config.shard_bytes, 1, None),
               "dedup_threshold": (config.dedup_threshold, 0, 1), "dedup_num_perm": (config.dedup_num_perm, 1, None),
               "dedup_ngram": (config.dedup_ngram, 1, None), "dedup_rounds": (config.dedup_rounds, 1, None),
               "boilerplate_lines": (config.boilerplate_lines, 0, None),
               "max_doc_bytes": (config.max_doc_bytes, 0, None),
               "decontaminate_ngram": (config.decontaminate_ngram, 1, None)}
    for name, (value, low, high) in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (high is not None and value > high):
            raise ConfigError(f"{name} must be a number in [{low}, {high if high is not None else 'inf'}], got {value!r}")
    for path in config.decontaminate:
        if not match_files(path):
            raise ConfigError(f"decontaminate: {path!r} matches no files")
