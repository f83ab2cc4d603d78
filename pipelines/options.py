"""Beam pipeline options for the project's jobs: standard options pass through, typos fail."""

import argparse
import importlib
import logging


class _DropApitoolsWarning(logging.Filter):
    """Importing apache_beam logs that the BigQuery client (apitools) is missing, on every command
    line, though nothing here uses BigQuery; a usage error must stay one line on stderr."""

    def filter(self, record):
        return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_DropApitoolsWarning())

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions  # noqa: E402
from apache_beam.runners.runner import _RUNNER_MAP, PipelineRunner  # noqa: E402  the names create_runner takes

from schemas.errors import UsageError  # noqa: E402


class UnknownOptions(UsageError):
    pass


class _OptionNames(argparse.ArgumentParser):
    """A parser that learns the names of Beam's options, to tell which arguments are unknown. Beam's
    options classes declare theirs on a parser that also offers `add_value_provider_argument` (options
    a template fills at run time); for names, it is a plain argument. Values are parsed by
    PipelineOptions itself."""

    def __init__(self):
        super().__init__(allow_abbrev=False, add_help=False)

    def add_value_provider_argument(self, *args, **kwargs):
        if args and not args[0].startswith("-"):  # a positional one is given as --name=value too
            kwargs.setdefault("nargs", "?")
        kwargs.pop("type", None)
        self.add_argument(*args, **kwargs)


def check_runner(name: str) -> None:
    """The runner `--runner` names must exist and import, as apache_beam.runners.runner.create_runner
    resolves it: a known name (any case, "Runner" optional: DirectRunner, FnApiRunner, DataflowRunner,
    FlinkRunner, SparkRunner, PrismRunner, PortableRunner, ...) or the dotted path of a PipelineRunner
    subclass (apache_beam.runners.dask.dask_runner.DaskRunner). A mistake fails here, before any output
    folder is touched, not when the pipeline is built."""
    path = _RUNNER_MAP.get(name.lower(), _RUNNER_MAP.get(name.lower() + "runner", name))
    if "." not in path:
        raise UnknownOptions(f"--runner {name}: not a Beam runner; use one of "
                             f"{', '.join(StandardOptions.KNOWN_RUNNER_NAMES)} or the dotted path of a "
                             "PipelineRunner subclass")
    module, _, cls = path.rpartition(".")
    try:
        runner = getattr(importlib.import_module(module), cls, None)
    except ImportError as exc:
        raise UnknownOptions(f"--runner {name}: cannot import {module} ({exc})") from None
    if not (isinstance(runner, type) and issubclass(runner, PipelineRunner)):
        raise UnknownOptions(f"--runner {name}: {path} is not a PipelineRunner class")


# Runner modules that declare their own PipelineOptions subclass outside pipeline_options (Dataflow's,
# Flink's, Spark's and the portable runner's are declared there); imported where their packages are
# installed, so the runner's options are known to the parser.
_RUNNER_OPTION_MODULES = {"apache_beam.runners.dask.dask_runner": ("--dask_", "dask[distributed]")}


def _runner_named(beam_args: list[str]) -> str | None:
    parser = _OptionNames()
    parser.add_argument("--runner")
    return parser.parse_known_args(beam_args)[0].runner


def beam_options(beam_args: list[str]) -> PipelineOptions:
    """Beam only warns about options it does not know; a typo must fail instead. The parser is
    built as PipelineOptions.get_all_options builds it, after the runner named is imported (its own
    options class registers itself then). Without --runner, the in-process FnApiRunner (the default
    DirectRunner tries to download the Prism runner first); a runner given is checked
    (check_runner)."""
    runner = _runner_named(beam_args)
    if runner:
        check_runner(runner)
    missing = {}
    for module, (prefix, package) in _RUNNER_OPTION_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing[prefix] = package
    parser = _OptionNames()
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(beam_args)
    if unknown:
        needs = sorted({package for prefix, package in missing.items()
                        for arg in unknown if arg.startswith(prefix)})
        hint = f" (the runner that takes them needs `pip install {' '.join(needs)}`)" if needs else ""
        raise UnknownOptions(f"unknown options: {unknown}{hint}")
    options = PipelineOptions(beam_args)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = "FnApiRunner"
    return options
