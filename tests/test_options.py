"""Run options are declared once (CurateConfig's fields): the command line, recipe checks and the
README's table all follow from those declarations."""

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from pipelines.config import ConfigError, CurateConfig, build_config, options_table
from pipelines.curate import parse_args
from pipelines.option_fields import given, options_of
from pipelines.options import UnknownOptions, beam_options

REPO = Path(__file__).resolve().parent.parent

# For each command-line option: the arguments that set it and the value the run then has.
SET_BY = {
    "filters": (["--filters", "gopher"], "gopher"),
    "languages": (["--languages", "en, de"], ("en", "de")),
    "min_lang_score": (["--min-lang-score", "0.5"], 0.5),
    "lid_model": (["--lid-model", "model.ftz"], str(Path("model.ftz").resolve())),
    "extractor": (["--extractor", "trafilatura"], "trafilatura"),
    "extract_timeout_s": (["--extract-timeout", "2.5"], 2.5),
    "boilerplate_lines": (["--boilerplate-lines", "3"], 3),
    "dedup": (["--dedup", "exact"], "exact"),
    "dedup_threshold": (["--dedup-threshold", "0.8"], 0.8),
    "dedup_num_perm": (["--dedup-num-perm", "64"], 64),
    "dedup_verify": (["--dedup-verify"], "exact"),
    "dedup_components": (["--dedup-components", "distributed"], "distributed"),
    "dedup_index": (["--dedup-index", "idx"], str(Path("idx").resolve())),
    "pii": (["--no-pii"], False),
    "decontaminate": (["--decontaminate", "a.txt", "b.txt"], (str(Path("a.txt").resolve()), str(Path("b.txt").resolve()))),
    "decontaminate_ngram": (["--decontaminate-ngram", "8"], 8),
    "shard_bytes": (["--shard-bytes", "1000"], 1000),
    "max_doc_bytes": (["--max-doc-bytes", "0"], 0),
    "reshuffle": (["--no-reshuffle"], False),
    "overwrite": (["--overwrite"], True),
    "allow_empty": (["--allow-empty"], True),
}


def config_of(argv: list[str], recipe: dict | None = None) -> CurateConfig:
    args, beam_args = parse_args(["--input", "x/*.txt", "--output", "out", *argv])
    assert not beam_args
    return build_config(recipe, args.input, args.output, given(args, CurateConfig))


def test_every_setting_is_declared_once_with_its_option():
    declared = {f.name for f, _ in options_of(CurateConfig)}
    assert declared == {f.name for f in fields(CurateConfig)} - {"sources", "output"}
    command_line = {f.name for f, option in options_of(CurateConfig) if option.cli is not None}
    assert command_line == set(SET_BY), "an option without a case in SET_BY, or a case for no option"


@pytest.mark.parametrize("name", sorted(SET_BY))
def test_each_option_reaches_the_run_settings(name):
    argv, expected = SET_BY[name]
    default = config_of([])
    assert getattr(default, name) != expected
    config = config_of(argv)
    assert getattr(config, name) == expected
    changed = {f.name for f in fields(CurateConfig) if getattr(config, f.name) != getattr(default, f.name)}
    assert changed == {name}


def test_the_command_line_overrides_the_recipe_and_the_recipe_the_default():
    recipe = {"sources": [{"glob": "y/*.txt"}], "dedup": "exact", "min_lang_score": 0.25, "dedup_rounds": 5}
    config = config_of(["--dedup", "none"], recipe)
    assert (config.dedup, config.min_lang_score, config.dedup_rounds) == ("none", 0.25, 5)
    assert config.dedup_num_perm == 112


@pytest.mark.parametrize("argv, recipe, message", [
    (["--min-lang-score", "1.5"], None, "min_lang_score must be a number in [0, 1], got 1.5"),
    (["--shard-bytes", "0"], None, "shard_bytes must be a number in [1, inf], got 0"),
    ([], {"dedup_fanout": 0}, "dedup_fanout must be a number in [1, inf], got 0"),
    ([], {"dedup": "fuzzy"}, "dedup 'fuzzy': choose from ('none', 'exact', 'minhash')"),
    ([], {"dedup_verify": "sketch"}, "dedup_verify 'sketch': choose from ('exact', 'signature')"),
    ([], {"dedup_num_perm": "many"}, "recipe dedup_num_perm: expected an integer, got str 'many'"),
])
def test_wrong_values_are_named(argv, recipe, message):
    recipe = {"sources": [{"glob": "y/*.txt"}], **recipe} if recipe else None
    with pytest.raises(ConfigError) as caught:
        config_of(argv, recipe)
    assert str(caught.value) == message


def test_command_line_choices_are_the_declared_ones(capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(["--output", "out", "--extractor", "lynx"])
    assert exited.value.code == 2
    assert "'cascade', 'resiliparse', 'trafilatura'" in capsys.readouterr().err


def test_the_readme_table_is_the_declared_one():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert options_table() in readme, "README.md's options table is stale: paste `python -m pipelines.config`"


def test_run_settings_import_no_beam():
    code = "import sys, pipelines.config; print('apache_beam' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_beam_options_known_to_beam_pass_and_others_fail():
    options = beam_options(["--runner", "DataflowRunner", "--project", "p", "--temp_location", "gs://b/t",
                            "--setup_file", "./pyproject.toml", "--direct_num_workers=2"])
    assert options.get_all_options()["project"] == "p"
    assert options.get_all_options()["direct_num_workers"] == 2
    with pytest.raises(UnknownOptions, match="--direct_num_wrkers=2"):
        beam_options(["--direct_num_wrkers=2"])
