"""bench/train_gpu.py, the GPU check's runner: its dry run on the CPU trains the three paths for real, each
with its own config, and writes nothing outside --out; a compiled run that fails is run again eager."""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import train_gpu  # noqa: E402


def test_the_dry_run_trains_the_three_paths_each_with_its_config(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    assert train_gpu.main(["--dry-run", "--out", str(out), "--work", str(work), "--steps", "2"]) == 0
    report = json.loads((out / "gpu.json").read_text())
    assert report["status"] == "done" and report["smoke"]["ok"] and report["compile"]["used"] is False
    runs = report["runs"]
    assert list(runs) == ["gpt2-124m", "bert-base", "gpt2-124m-document-masking"]
    configs = {name: json.loads((out / f"{name}.log.jsonl").read_text().splitlines()[0]) for name in runs}
    assert [configs[n]["config"]["objective"] for n in runs] == ["clm", "mlm", "clm"]
    assert [configs[n]["config"]["data"]["document_masking"] for n in runs] == [False, False, True]
    assert runs["gpt2-124m-document-masking"]["attention"] == "sdpa (dense document mask)"  # the CPU path
    assert all(r["steps"] == 2 and r["tokens_per_s"] > 0 and r["last_loss"] > 0 for r in runs.values())
    assert sorted(p.name for p in out.iterdir()) == sorted(["gpu.json", *(f"{n}.log.jsonl" for n in runs)])


def test_a_failed_compiled_run_is_run_again_eager(tmp_path, monkeypatch):
    """No GPU needed: the runs are faked; the orchestration (compile decision, fallback, report) is real."""
    def fake_environment():
        return {"cuda_available": True, "c_compiler": "/usr/bin/cc", "triton": "3", "device": "fake"}

    calls = []

    def fake_train_process(config, settings, data, run_dir, timeout):
        compiled = "train.compile=on" in settings
        calls.append((run_dir.name, compiled))
        if run_dir.name == "smoke" or not compiled or run_dir.name != "bert-base":
            run_dir.mkdir(parents=True, exist_ok=True)
            steps = [{"step": s, "loss": 5.0, "tokens_per_s": 100.0 * s, "mfu": 0.4} for s in (5, 10, 15, 20)]
            config = {"event": "config", "compile": compiled, "attention": "x", "settings": settings}
            (run_dir / "log.jsonl").write_text("\n".join(json.dumps(r) for r in [config, *steps]))
            return {"ok": True, "seconds": 1.0, "returncode": 0}
        return {"ok": False, "seconds": 1.0, "returncode": 1, "output_tail": "InductorError: no"}

    monkeypatch.setattr(train_gpu, "environment", fake_environment)
    monkeypatch.setattr(train_gpu, "train_process", fake_train_process)
    monkeypatch.setattr(train_gpu, "random_shards", lambda out, tokens, lengths: out)
    out = tmp_path / "out"
    assert train_gpu.main(["--out", str(out), "--work", str(tmp_path / "work"), "--steps", "20"]) == 0
    report = json.loads((out / "gpu.json").read_text())
    assert calls == [("smoke", True), ("gpt2-124m", True), ("bert-base", True), ("bert-base", False),
                     ("gpt2-124m-document-masking", True)]
    assert report["compile"]["used"] is True
    bert = report["runs"]["bert-base"]
    assert bert["fell_back_to_eager"] is True and bert["tokens_per_s"] == 1750.0 and len(bert["attempts"]) == 2
    assert report["runs"]["gpt2-124m"]["fell_back_to_eager"] is False

    # No C compiler: every run eager, and the report says why.
    monkeypatch.setattr(train_gpu, "environment", lambda: {**fake_environment(), "c_compiler": None})
    calls.clear()
    assert train_gpu.main(["--out", str(out), "--work", str(tmp_path / "work"), "--steps", "20"]) == 0
    report = json.loads((out / "gpu.json").read_text())
    assert not any(compiled for _, compiled in calls) and "C compiler" in report["compile"]["why"]
