"""The YAML files that ship with the package: filter presets (filters/), curation recipes (recipes/) and
training configs (train/).

They are package data, found with importlib.resources wherever the package is installed (a wheel, an
editable install, a checkout), so `--filters fineweb`, `--config demo` (a recipe) and `--config tiny` (a
training config) work from any directory. A path to a YAML file of the same shape works everywhere too.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable

KINDS = ("filters", "recipes", "train")


def folder(kind: str) -> Traversable:
    """The folder of one kind of config (filters, recipes or train)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of config {kind!r}; kinds: {KINDS}")
    return files(__name__) / kind


def names(kind: str) -> list[str]:
    """The names of the packaged configs of a kind, sorted (file names without .yaml)."""
    where = folder(kind)
    if not where.is_dir():  # an install without its package data
        return []
    return sorted(p.name[:-len(".yaml")] for p in where.iterdir() if p.name.endswith(".yaml"))


def find(kind: str, name: str) -> Traversable | None:
    """The packaged config NAME of a kind, or None when there is none of that name."""
    path = folder(kind) / f"{name}.yaml"
    return path if path.is_file() else None


def is_name(value: str) -> bool:
    """Whether a command line's value names a packaged config rather than a path: no folder, no suffix."""
    return "/" not in value and "\\" not in value and not value.endswith((".yaml", ".yml"))
