"""Run options declared once, as dataclass fields: the command line, recipe checking and the README's
options table are all derived from a field's `Option` metadata.

    min_lang_score: float = setting(0.0, "drop documents whose language score is lower", low=0, high=1)

A field declared with `setting` is a recipe key under its own name and, unless `cli=None`, a command-line
option (`--min-lang-score`). The form of the option follows `cli`:

    "value"   --name VALUE (the field's type; `choices` and `metavar` as given)
    "flag"    --name sets True
    "no"      --no-name sets False
    "list"    --name VALUE [VALUE ...]
    "maybe"   --name [VALUE], VALUE `const` when left out

An option not given on the command line is None, so a recipe's value or the field's default holds.
No Beam here: the wiring depends on the options, never the other way round.
"""

import argparse
import types
import typing
from dataclasses import MISSING, dataclass, field, fields


@dataclass(frozen=True)
class Option:
    help: str
    cli: str | None = "value"  # see the module docstring; None: a recipe key only
    flag: str | None = None  # the option's name when it is not the field's (`--extract-timeout`)
    metavar: str | None = None
    choices: tuple | None = None
    const: object = None  # "maybe": the value of the bare option
    low: float | None = None  # numbers: the range allowed
    high: float | None = None
    path: bool = False  # a local path, made absolute (Beam workers may run elsewhere)
    shown_default: str | None = None  # the README's default column, where the value itself says little


def setting(default, help: str, **option):
    """A dataclass field with its Option (see the module docstring)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults: use a tuple")
    return field(default=default, metadata={"option": Option(help=help, **option)})


def options_of(cls) -> list[tuple]:
    """(field, Option) of every field declared with `setting`, in declaration order."""
    return [(f, f.metadata["option"]) for f in fields(cls) if "option" in f.metadata]


def flag_of(f, option: Option) -> str:
    name = option.flag or f.name.replace("_", "-")
    return f"--no-{name}" if option.cli == "no" else f"--{name}"


def value_type(annotation):
    """The scalar type of a field's annotation (`float | None` -> float, `tuple[str, ...]` -> str)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        return value_type(kinds[0])
    if typing.get_origin(annotation) is tuple:
        return typing.get_args(annotation)[0]
    return annotation


def add_arguments(parser: argparse.ArgumentParser, cls) -> None:
    """One argparse option per command-line field of `cls`; each leaves None when not given."""
    for f, option in options_of(cls):
        if option.cli is None:
            continue
        shown = "" if option.cli in ("flag", "no") else f" (default: {_default_text(f, option).replace('`', '')})"
        flag, kwargs = flag_of(f, option), {"dest": f.name, "default": None, "help": option.help + shown}
        if option.cli == "flag":
            kwargs.update(action="store_const", const=True)
        elif option.cli == "no":
            kwargs.update(action="store_const", const=False)
        else:
            kwargs.update(type=value_type(f.type), metavar=option.metavar, choices=option.choices)
            if option.cli == "list":
                kwargs["nargs"] = "+"
            elif option.cli == "maybe":
                kwargs.update(nargs="?", const=option.const)
            elif option.cli != "value":
                raise ValueError(f"{f.name}: unknown cli form {option.cli!r}")
        parser.add_argument(flag, **kwargs)


def given(args: argparse.Namespace, cls) -> dict:
    """The command-line options given, by field name (those not given are None)."""
    return {f.name: getattr(args, f.name) for f, option in options_of(cls) if option.cli is not None}


def value_problem(f, option: Option, value) -> str | None:
    """What is wrong with a field's value after the recipe and command line are merged, or None."""
    if option.choices is not None and value is not None and value not in option.choices:
        return f"{f.name} {value!r}: choose from {option.choices}"
    if option.low is not None or option.high is not None:
        low, high = option.low, option.high
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or (low is not None and value < low) or (high is not None and value > high)):
            return (f"{f.name} must be a number in [{low if low is not None else '-inf'}, "
                    f"{high if high is not None else 'inf'}], got {value!r}")
    return None


def _default_text(f, option: Option) -> str:
    if option.shown_default is not None:
        return option.shown_default
    default = f.default if f.default is not MISSING else None
    if isinstance(default, bool):
        return str(default).lower()
    if default in (None, ()):
        return "none"
    return f"`{default}`" if isinstance(default, str) else str(default)


TABLE_HEADER = ["| option | recipe key | default | meaning |", "|---|---|---|---|"]


def markdown_rows(cls) -> list[str]:
    """The README's options table: option, recipe key, default, meaning (header included)."""
    rows = list(TABLE_HEADER)
    for f, option in options_of(cls):
        if option.cli is None:
            rows.append(f"| (recipe only) | `{f.name}` | {_default_text(f, option)} | {_meaning(option)} |")
            continue
        shown = flag_of(f, option)
        if option.cli == "value":
            shown += f" {option.metavar or ('MODE' if option.choices else value_type(f.type).__name__.upper())}"
        elif option.cli == "list":
            shown += f" {option.metavar or 'VALUE'}..."
        elif option.cli == "maybe":
            shown += f" [{option.metavar or '|'.join(option.choices or ())}]"
        shown = shown.replace("|", "\\|")
        rows.append(f"| `{shown}` | `{f.name}` | {_default_text(f, option)} | {_meaning(option)} |")
    return rows


def _meaning(option: Option) -> str:
    meaning = option.help.replace("|", "\\|")
    if option.choices and not all(f"`{c}`" in option.help for c in option.choices):
        meaning += f" (one of {', '.join(f'`{c}`' for c in option.choices)})"
    return meaning
