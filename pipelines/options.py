"""Beam pipeline options for the project's jobs: standard options pass through, typos fail."""

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.options.pipeline_options import _BeamArgumentParser  # the parser Beam's options use


class UnknownOptions(ValueError):
    pass


def beam_options(beam_args: list[str]) -> PipelineOptions:
    """Beam only warns about options it does not know; a typo must fail instead. The parser is
    built as PipelineOptions.get_all_options builds it. Without --runner, the in-process FnApiRunner
    (the default DirectRunner tries to download the Prism runner first)."""
    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(beam_args)
    if unknown:
        raise UnknownOptions(f"unknown options: {unknown}")
    options = PipelineOptions(beam_args)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = "FnApiRunner"
    return options
