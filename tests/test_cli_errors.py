"""Every command line answers a user's mistake with one line on stderr and exit code 2, before any work
starts and before any output folder is created or cleared (schemas.errors).

A few cases per command run it as a subprocess, as a user would (Beam's import-time chatter included);
the rest call its main() in-process, and the checks that are plain functions are called directly.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, curate, one_line
from schemas.errors import UsageError

BOOKS = "gutenberg_en/*.txt"


def cli(module: str, *args) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    return done.returncode, done.stderr


def call(main, argv, capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


# --- what the commands read: a small finished run, its tokenizer, token shards, a model ------------------

@pytest.fixture(scope="module")
def work(tmp_path_factory, data_dir):
    """A curation run of the three Gutenberg books, a 300-token BPE, token shards, and a tiny GPT."""
    from pipelines.tokenize import run as tokenize
    from trainer.checkpoint import export_safetensors
    from trainer.model import ModelConfig, Transformer
    from trainer.tokenizer import load_tokenizer
    from trainer.tokenizer import main as train_tokenizer

    root = tmp_path_factory.mktemp("cli-errors")
    run = root / "run"
    assert curate(run, [{"name": "books", "glob": str(data_dir / BOOKS)}], filters="none", dedup="none",
                  pii=False).problems == []
    tokenizer = root / "tok.json"
    assert train_tokenizer(["--input", str(run), "--output", str(tokenizer), "--vocab-size", "300"]) == 0
    tokens = root / "tokens"
    tokenize(["--input", str(run), "--tokenizer", str(tokenizer), "--output", str(tokens), "--heldout-fraction", "0.4",
              "--shard-bytes", "100000"])
    gpt = root / "gpt"
    gpt.mkdir()
    config = ModelConfig(vocab_size=300, n_layer=1, n_head=2, d_model=16, max_seq_len=32)
    export_safetensors(Transformer(config).state_dict(), gpt / "model.safetensors",
                       {"model": vars(config), "tokenizer": load_tokenizer(tokenizer)[1], "step": 0})
    shutil.copyfile(tokenizer, gpt / "tokenizer.json")
    other = root / "other-tok.json"  # the same tokenizer, written differently: another fingerprint
    other.write_text(json.dumps(json.loads(tokenizer.read_text()), indent=1))
    bad = root / "not-a-model.ftz"
    bad.write_text("not a model\n")
    return {"root": root, "run": run, "tokenizer": tokenizer, "other_tokenizer": other, "tokens": tokens,
            "gpt": gpt, "bad": bad, "books": data_dir / BOOKS}


def recipe(tmp_path: Path, body: str, glob) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(body.replace("GLOB", str(glob)))
    return path


# --- curation: the recipe ---------------------------------------------------------------------------

@pytest.mark.parametrize("settings, message", [
    ({"languages": 5}, "recipe languages: expected a list or a string, got int 5"),
    ({"sources": "abc"}, "recipe sources: expected a list, got str 'abc'"),
    ({"filters": 5}, "recipe filters: expected a string, got int 5"),
    ({"overwrite": "no"}, "recipe overwrite: expected true or false, got str 'no'"),
    ({"languages": ["en", False]}, "recipe languages[1]: expected a string, got bool False (quote it"),
    ({"shard_bytes": 1.5}, "recipe shard_bytes: expected an integer, got float 1.5"),
    ({"extractor": "foo"}, "extractor 'foo': choose from ('cascade', 'resiliparse', 'trafilatura')"),
])
def test_recipe_values_of_the_wrong_type(settings, message):
    from pipelines.config import ConfigError, build_config

    recipe = {"sources": [{"glob": "/data/*.txt"}], **settings}
    with pytest.raises(ConfigError) as caught:
        build_config(recipe, [], "/tmp/out", {})
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("source, message", [
    ({"name": "c", "glob": 3}, "recipe sources[2].glob: expected a string, got int 3"),
    ({"name": "c", "glob": "/x/*", "options": {"split": 5}}, "recipe sources[2].options.split: expected a string"),
    ({"name": "c", "globs": "/x/*"}, "recipe sources[2]: unknown keys ['globs']"),
    ({"name": "c"}, "recipe sources[2]: needs a `glob`"),
    ("/x/*", "recipe sources[2]: expected a mapping, got str '/x/*'"),
])
def test_recipe_sources_name_the_entry(source, message):
    from pipelines.config import ConfigError, build_config

    with pytest.raises(ConfigError) as caught:
        build_config({"sources": [{"name": "a", "glob": "/a/*"}, {"name": "b", "glob": "/b/*"}, source]}, [], "/o", {})
    assert str(caught.value).startswith(message)


def test_runner_names_are_checked_as_beam_resolves_them():
    from pipelines.options import UnknownOptions, beam_options, check_runner

    for name in ("DirectRunner", "direct", "FnApiRunner", "PrismRunner", "apache_beam.runners.runner.PipelineRunner"):
        check_runner(name)
    with pytest.raises(UnknownOptions, match="--runner Bogus: not a Beam runner; use one of .*FnApiRunner"):
        beam_options(["--runner", "Bogus"])
    with pytest.raises(UnknownOptions, match="--runner os.path: os.path is not a PipelineRunner class"):
        check_runner("os.path")
    with pytest.raises(UnknownOptions, match="--runner no_such.Runner: cannot import no_such"):
        check_runner("no_such.Runner")



def test_runner_options_are_known_to_the_parser(tmp_path):
    """Dataflow's, Flink's, Spark's and the portable runner's own options pass; a runner named by its
    dotted path registers its options class before parsing; the Dask runner's options, without dask
    installed, are refused with what to install."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.options import UnknownOptions, beam_options

    beam_options(["--runner", "FnApiRunner", "--project", "p", "--region", "r", "--temp_location", "gs://b/t",
                  "--flink_master", "host:8081", "--spark_master_url", "spark://h:7077",
                  "--job_endpoint", "localhost:8099", "--environment_type", "LOOPBACK"])
    module = tmp_path / "my_runner.py"
    module.write_text("from apache_beam.options.pipeline_options import PipelineOptions\n"
                      "from apache_beam.runners.runner import PipelineRunner\n"
                      "class MyOptions(PipelineOptions):\n"
                      "    @classmethod\n"
                      "    def _add_argparse_args(cls, parser):\n"
                      "        parser.add_argument('--my_cluster')\n"
                      "class MyRunner(PipelineRunner):\n"
                      "    pass\n")
    import sys
    sys.path.insert(0, str(tmp_path))
    try:
        options = beam_options(["--runner", "my_runner.MyRunner", "--my_cluster", "c1"])
        assert options.get_all_options()["my_cluster"] == "c1"
    finally:
        sys.path.remove(str(tmp_path))
    assert isinstance(options, PipelineOptions)
    try:
        import dask  # noqa: F401
    except ImportError:
        with pytest.raises(UnknownOptions, match=r"--dask_client_address.*pip install dask\[distributed\]"):
            beam_options(["--dask_client_address", "x:8786"])

def test_language_codes_are_lid176_labels():
    from filters.langid import check_languages, model_labels

    assert len(model_labels()) == 176 and {"en", "de", "ja"} <= set(model_labels())
    check_languages(("en", "de"))
    with pytest.raises(UsageError, match=r"languages \['xx'\] are not among the 176 codes lid.176.ftz predicts"):
        check_languages(("en", "xx"))


def test_curate_subprocess(tmp_path, work):
    """As a user runs it: each mistake is one line (no Beam warning before it), and no output folder."""
    out = tmp_path / "out"
    cases = [
        (["--config", tmp_path / "missing.yaml"], ["recipe", "missing.yaml", "does not exist"]),
        (["--config", recipe(tmp_path, "sources:\n  - {glob: GLOB}\nlanguages: 5\n", work["books"])],
         ["recipe languages: expected a list or a string, got int 5"]),
        (["--input", work["books"], "--lid-model", work["bad"]], ["not-a-model.ftz is not a fastText model"]),
        (["--input", work["books"], "--runner", "Bogus"], ["--runner Bogus: not a Beam runner"]),
        (["--input", work["books"], "--languages", "xx,zz"], ["['xx', 'zz']", "lid.176.ftz"]),
    ]
    for args, names in cases:
        one_line(*cli("pipelines.curate", *args, "--output", out), *names)
        assert not out.exists(), args
    # argparse's own mistakes are one line too, without the usage block.
    one_line(*cli("pipelines.curate", "--input", work["books"]), "the following arguments are required: --output")


@pytest.mark.parametrize("body, names", [
    ("sources: abc\n", ["recipe sources: expected a list, got str 'abc'"]),
    ("sources:\n  - {glob: GLOB}\nfilters: 5\n", ["recipe filters: expected a string, got int 5"]),
    ("sources:\n  - {glob: GLOB\nfilters: [\n", ["recipe", "not valid YAML", "at line 3"]),
    ("sources:\n  - {glob: GLOB}\n  - {name: b, glob: GLOB}\n  - {name: c, glob: 3}\n",
     ["recipe sources[2].glob: expected a string, got int 3"]),
    ("sources:\n  - {glob: GLOB}\nextractor: foo\n", ["extractor 'foo'"]),  # was: every page quarantined
])
def test_curate_recipe_mistakes(tmp_path, work, capsys, body, names):
    from pipelines.curate import main

    out = tmp_path / "out"
    path = recipe(tmp_path, body, work["books"])
    one_line(*call(main, ["--config", path, "--output", out, "--allow-empty"], capsys), *names)
    assert not out.exists()


def test_curate_lid_model_missing(tmp_path, work, capsys):
    from pipelines.curate import main

    out = tmp_path / "out"
    one_line(*call(main, ["--input", work["books"], "--output", out, "--lid-model", tmp_path / "lid.ftz"], capsys),
             f"language model {tmp_path / 'lid.ftz'} does not exist")
    assert not out.exists()


def test_curate_source_names_given_twice(tmp_path, work, capsys):
    """Inputs of one folder get distinct names (tests/test_inputs.py), but two names given alike are refused."""
    from pipelines.curate import main

    out, folder = tmp_path / "out", work["books"].parent
    books = sorted(folder.glob("*.txt"))[:2]
    one_line(*call(main, ["--input", f"b={books[0]}", "--input", f"b={books[1]}", "--output", out], capsys),
             "source names must be unique; repeated: ['b']")
    one_line(*call(main, ["--input", books[0], "--input", books[0], "--output", out], capsys),
             f"input '{books[0]}' given twice")
    assert not out.exists()


def test_a_recipe_string_is_not_a_yes(tmp_path, work, capsys):
    """`overwrite: "no"` used to count as true and replace the run in the output folder."""
    from pipelines.curate import main

    out = tmp_path / "earlier"
    shutil.copytree(work["run"], out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    path = recipe(tmp_path, 'sources:\n  - {glob: GLOB}\noverwrite: "no"\n', work["books"])
    one_line(*call(main, ["--config", path, "--output", out], capsys), "recipe overwrite: expected true or false")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


# --- the tokenizer and tokenisation -----------------------------------------------------------------

def test_tokenizer_vocabulary_minimum_is_what_training_gives():
    """A byte-level BPE has its 256 bytes and the special tokens whatever vocab_size asks for."""
    from trainer.tokenizer import MIN_VOCAB_SIZE, SPECIAL_TOKENS, train_tokenizer

    assert MIN_VOCAB_SIZE["bpe"] == 256 + len(SPECIAL_TOKENS) == 262
    assert train_tokenizer(["some text", "more text"] * 10, "bpe", 3).get_vocab_size() == MIN_VOCAB_SIZE["bpe"]


def test_tokenizer_subprocess(tmp_path, work):
    out = tmp_path / "tok" / "t.json"
    one_line(*cli("trainer.tokenizer", "--input", work["run"], "--output", out, "--vocab-size", 3),
             "--vocab-size 3", "at least 262")
    assert not out.parent.exists()


def test_tokenizer_in_process(tmp_path, work, capsys):
    from trainer.tokenizer import main

    one_line(*call(main, ["--input", work["run"], "--output", tmp_path / "t.json", "--sample-bytes", -3], capsys),
             "--sample-bytes -3")
    one_line(*call(main, ["--input", work["run"], "--output", tmp_path], capsys), f"--output {tmp_path} is a directory")


def test_tokenize_subprocess(tmp_path, work):
    out = tmp_path / "tokens"
    one_line(*cli("pipelines.tokenize", "--input", work["run"], "--tokenizer", tmp_path / "tok.json", "--output", out),
             f"tokenizer {tmp_path / 'tok.json'} does not exist")
    one_line(*cli("pipelines.tokenize", "--input", work["run"], "--tokenizer", work["tokenizer"], "--output", out,
                  "--shard-bytes", -1), "--shard-bytes -1")
    assert not out.exists()


def test_tokenize_in_process(tmp_path, work, capsys):
    from pipelines.tokenize import main

    out = tmp_path / "tokens"
    one_line(*call(main, ["--input", work["run"], "--tokenizer", work["bad"], "--output", out], capsys),
             f"tokenizer {work['bad']} is not a tokenizer JSON")
    assert not out.exists()


# --- training ---------------------------------------------------------------------------------------

def test_train_config_checks():
    from trainer.config import ConfigError, load_config

    tiny = str(REPO / "configs" / "train" / "tiny.yaml")
    for settings, message in [
        (["model.n_layer=abc"], "model.n_layer: expected int, got 'abc'"),
        (["model.n_layers=2"], "unknown setting 'model.n_layers'; known: ["),
        (["model.vocab_size=100"], "model.vocab_size is not a setting: it comes from the tokenizer"),
        (["model.ffn=foo"], "model: ffn must be one of"),
        (["train.log_every=0"], "train.log_every 0: must be in [1, inf]"),
        (["data.mixture={a: 0}"], "data.mixture {'a': 0}: expected a mapping of source names to positive weights"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_config(tiny, settings)
        assert str(caught.value).startswith(message), caught.value


def test_train_subprocess(tmp_path, work):
    out, tiny = tmp_path / "gpt", REPO / "configs" / "train" / "tiny.yaml"
    cases = [
        (["--config", tmp_path / "none.yaml", "--data", work["tokens"]], ["--config", "none.yaml does not exist"]),
        (["--config", tiny, "--data", work["tokens"], "--set", "train.max_steps=abc"], ["train.max_steps", "'abc'"]),
        (["--config", tiny, "--data", work["tokens"], "--set", "model.n_layer=abc"], ["model.n_layer", "'abc'"]),
        (["--config", tiny, "--data", work["run"]], [f"--data {work['run']} is not token shards", "--tokenizer"]),
    ]
    for args, names in cases:
        one_line(*cli("trainer.train", *args, "--out", out), *names)
        assert not out.exists(), args


def test_train_refuses_a_run_of_another_configuration_upfront(tmp_path, work, capsys):
    from trainer.train import main

    step = tmp_path / "gpt" / "checkpoints" / "step-0000010"
    step.mkdir(parents=True)
    (step / "state.json").write_text(json.dumps({"step": 10, "config_hash": "0123456789abcdef"}))
    argv = ["--config", REPO / "configs" / "train" / "tiny.yaml", "--data", work["tokens"], "--out", tmp_path / "gpt"]
    one_line(*call(main, argv, capsys), f"--out {tmp_path / 'gpt'} was trained with another configuration",
             "0123456789abcdef")
    assert sorted(p.name for p in (tmp_path / "gpt").iterdir()) == ["checkpoints"]


@pytest.mark.parametrize("case", ["yaml", "unknown", "objective", "noequals", "micro_batch", "data", "tokenizer",
                                  "other_tokenizer"])
def test_train_in_process(tmp_path, work, capsys, case):
    from trainer.train import main

    tiny, syntax = REPO / "configs" / "train" / "tiny.yaml", tmp_path / "bad.yaml"
    syntax.write_text("model: {n_layer: 2\ntrain: [\n")
    args, names = {
        "yaml": (["--config", syntax], ["--config", "bad.yaml: not valid YAML", "line 2"]),
        "unknown": (["--set", "train.bogus=1"], ["unknown setting 'train.bogus'"]),
        "objective": (["--set", "objective=foo"], ["objective 'foo'"]),
        "noequals": (["--set", "noequals"], ["--set 'noequals'"]),
        "micro_batch": (["--set", "data.micro_batch=3"], ["data.micro_batch 3"]),
        "data": (["--data", tmp_path / "none"], [f"--data {tmp_path / 'none'} does not exist"]),
        "tokenizer": (["--tokenizer", tmp_path / "t.json"], [f"tokenizer {tmp_path / 't.json'} does not exist"]),
        "other_tokenizer": (["--tokenizer", work["other_tokenizer"]], ["is not the tokenizer of the token shards"]),
    }[case]
    argv = ["--config", tiny, "--data", work["tokens"], "--out", tmp_path / "gpt", *args]
    one_line(*call(main, argv, capsys), *names)
    assert not (tmp_path / "gpt").exists()


# --- sampling and the report ------------------------------------------------------------------------

def test_sample_subprocess(tmp_path, work):
    one_line(*cli("trainer.sample", "--checkpoint", tmp_path / "none", "--prompt", "hi"),
             f"--checkpoint {tmp_path / 'none'} does not exist")
    one_line(*cli("trainer.sample", "--checkpoint", work["gpt"], "--prompt", "hi", "--max-new-tokens", -1),
             "--max-new-tokens -1")


def test_sample_in_process(tmp_path, work, capsys):
    from trainer.sample import fill_mask, main
    from trainer.tokenizer import load_tokenizer

    one_line(*call(main, ["--checkpoint", work["run"], "--prompt", "hi"], capsys),
             f"{work['run']}: no model.safetensors, checkpoint or checkpoints/")
    one_line(*call(main, ["--checkpoint", work["gpt"], "--prompt", "hi", "--top-p", 2], capsys), "--top-p 2")
    with pytest.raises(UsageError, match="has no \\[MASK\\]"):
        fill_mask(None, load_tokenizer(work["tokenizer"])[0], "no mask here", 5)


def test_report_subprocess(tmp_path, work):
    one_line(*cli("pipelines.report", work["run"], "--tokens", tmp_path / "none"),
             f"--tokens {tmp_path / 'none'} does not exist")
    assert not (work["run"] / "report.html").exists()  # no longer skipped silently


def test_report_in_process(tmp_path, work, capsys):
    from pipelines.report.__main__ import main

    one_line(*call(main, [work["run"], "--tokens", work["run"]], capsys), f"--tokens {work['run']}",
             "not of token shards")
    one_line(*call(main, [work["run"], "--train", work["tokens"]], capsys), "has no log.jsonl")
    assert not (work["run"] / "report.html").exists()


def test_an_input_run_that_is_not_there(tmp_path, work, capsys):
    """A missing curation run given as input (schemas.run_manifest.verify_run's check)."""
    from pipelines.report.__main__ import main as report
    from pipelines.tokenize import main as tokenize

    missing = tmp_path / "no-run"
    one_line(*cli("trainer.tokenizer", "--input", missing, "--output", tmp_path / "t.json"), f"{missing} does not exist")
    one_line(*call(tokenize, ["--input", missing, "--tokenizer", work["tokenizer"], "--output", tmp_path / "tokens"],
                   capsys), f"{missing} does not exist")
    one_line(*call(report, [missing], capsys), f"{missing} does not exist")
    one_line(*call(report, ["--compare", work["run"], missing], capsys), f"{missing} does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
