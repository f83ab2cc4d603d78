"""The YAML files that ship with the package: filter presets (filters/), curation recipes (recipes/) and
training configs (train/).

They are package data, found with importlib.resources wherever the package is installed (a wheel, an
editable install, a checkout), so `--filters fineweb`, `--config demo` (a recipe) and `--config tiny` (a
training config) work from any directory. A path to a YAML file of the same shape works everywhere too.
"""

import os
import re
from importlib.resources import files
from importlib.resources.abc import Traversable

from schemas.errors import UsageError

KINDS = ("filters", "recipes", "train")
DEFAULT_DATA_DIR = "../shared/data"
_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


class ConfigVariableMissing(UsageError):
    pass


def expand_vars(text: str) -> str:
    """`${NAME}` and `${NAME:-default}` in a config's strings, from the environment; ${DATA_DIR} defaults
    to ../shared/data (the shared corpora beside a checkout)."""
    def sub(match):
        name, default = match.group(1), match.group(2)
        if name == "DATA_DIR" and default is None:
            default = DEFAULT_DATA_DIR
        value = os.environ.get(name, default)
        if value is None:
            raise ConfigVariableMissing(f"${{{name}}} is not set")
        return value

    return _VAR.sub(sub, text)


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
