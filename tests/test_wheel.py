"""The package as users install it: a wheel built from this tree, installed in a fresh venv, curating a
small JSONL file from another directory with the default filter preset, by the console script and by
`python -m`. The presets, recipes and training configs must travel in the wheel as package data.

Installing every dependency would take minutes, so the fresh venv sees the project venv's third-party
packages through a path line in a .pth file. That line does not run the project's editable finder (the
.pth files of a folder added that way are not processed), and the test checks that the modules imported
are the wheel's copies in the fresh venv.
"""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "ccnet_jsonl_dolma" / "cc_en_head-0174.jsonl.gz"
# Heavy or generated folders never copied when git is not there to list the tree.
SKIP = shutil.ignore_patterns(".git", ".venv", "runs", "data", "models", "artifacts", "build", "dist",
                              "*.egg-info", "__pycache__", ".pytest_cache", ".bench", "*.so")


def _copy_tree(dest: Path) -> None:
    """The working tree (tracked files and new ones git does not ignore), so the build neither sees nor
    leaves build/ or egg-info in the checkout that other runs share."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(REPO, dest, ignore=SKIP)
        return
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():  # a file deleted but not yet committed is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _run(argv, cwd, timeout=120):
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the fresh venv, a working directory outside the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, wheels, venv, work = tmp / "src", tmp / "wheels", tmp / "venv", tmp / "work"
    work.mkdir()
    _copy_tree(src)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", wheels, src], cwd=tmp, timeout=300)
    (wheel,) = wheels.glob("curate_pretrain-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=work).strip())
    (site / "project-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
         cwd=tmp, timeout=300)
    return venv, work


def test_wheel_carries_configs_and_console_scripts(installed):
    venv, work = installed
    where = _run([venv / "bin" / "python", "-c",
                  "import configs, filters.presets, pipelines.curate, trainer.config\n"
                  "for m in (configs, filters.presets, pipelines.curate, trainer.config): print(m.__file__)\n"
                  "print(filters.presets.available_presets())\n"
                  "print(configs.names('recipes'), configs.names('train'))"], cwd=work).splitlines()
    for path in where[:4]:
        assert Path(path).is_relative_to(venv), f"{path} is not the wheel's copy in {venv}"
    assert "fineweb" in where[4] and "demo" in where[5] and "tiny" in where[5]
    for script in ("curate", "curate-report", "curate-tokenize", "tokenizer-train", "pretrain", "pretrain-sample",
                   "pretrain-export"):
        assert (venv / "bin" / script).is_file(), script


@pytest.mark.parametrize("how", ["console-script", "python-m"])
def test_installed_curation_from_another_directory(installed, how):
    venv, work = installed
    command = [venv / "bin" / "curate"] if how == "console-script" else [venv / "bin" / "python", "-m", "pipelines.curate"]
    out = work / how
    stdout = _run([*command, "--input", DATA, "--output", out.name, "--runner", "FnApiRunner"], cwd=work, timeout=180)
    assert "files in" in stdout
    manifest = (out / "manifest.json").read_text()
    assert '"filters"' in manifest and "fineweb" in manifest  # the default preset, read from the wheel
    assert list((out / "documents").rglob("*.parquet")), "no output shards"


def test_packaged_configs_by_name_from_any_directory(tmp_path, monkeypatch):
    """`--config demo` (a recipe), `--config tiny` (a training config) and `--filters fineweb` are found in
    the package from any directory; a file given by path, or of that name in the working directory, comes
    first; an unknown name is refused naming the packaged ones."""
    from filters.presets import UnknownPreset, preset_path
    from pipelines.config import ConfigError, load_recipe
    from trainer.config import ConfigError as TrainConfigError
    from trainer.config import load_config

    monkeypatch.chdir(tmp_path)
    assert load_recipe("demo")["filters"] == "gopher-technical"
    assert load_config("tiny").model == load_config(str(REPO / "configs" / "train" / "tiny.yaml")).model
    assert preset_path("fineweb").read_text() == (REPO / "configs" / "filters" / "fineweb.yaml").read_text()

    (tmp_path / "demo").write_text("sources: [{glob: 'here/*.jsonl'}]\nfilters: none\n")
    assert load_recipe("demo")["filters"] == "none"  # the file in the working directory
    (tmp_path / "mine.yaml").write_text("filters: []\n")
    assert preset_path("mine.yaml") == Path("mine.yaml")

    with pytest.raises(ConfigError, match=r"recipe nope does not exist; packaged recipes: \['demo', "):
        load_recipe("nope")
    with pytest.raises(TrainConfigError, match=r"--config nope does not exist; packaged configs: \[.*'tiny'"):
        load_config("nope")
    with pytest.raises(TrainConfigError, match=r"--config sub/tiny.yaml does not exist$"):
        load_config("sub/tiny.yaml")
    with pytest.raises(UnknownPreset, match=r"no filter preset 'nope'; presets: \[.*'fineweb'"):
        preset_path("nope")
