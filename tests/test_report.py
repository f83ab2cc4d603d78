"""The run report of real runs, opened in headless Chromium (Debian's chromium, installed by make test)."""

import json
import shutil
from pathlib import Path

import pytest

from pipelines.report.__main__ import write_report
from pipelines.report.compare import compare
from conftest import REPO, curate

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "artifacts"


@pytest.fixture(scope="module")
def web_run(tmp_path_factory, data_dir):
    """Common Crawl WET and WARC pages (the WARC twice, so there are duplicates) through the default
    filters and MinHash dedup."""
    out = tmp_path_factory.mktemp("report") / "web"
    warc = str(data_dir / "cc_warc_2020_34_resiliparse" / "*.warc.gz")
    sources = [{"name": "wet", "type": "wet", "glob": str(data_dir / "wet_ccnet_test_sample" / "*")},
               {"name": "warc", "type": "warc", "glob": warc}, {"name": "warc-again", "type": "warc", "glob": warc}]
    result = curate(out, sources)
    assert result.problems == []
    return out


def open_page(path: Path, screenshot: Path | None = None) -> dict:
    """Load the page from disk; its console errors, broken images, script count and text."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "chromium is missing: make test installs Debian's chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        found = page.evaluate("""() => ({
            broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
            images: document.images.length,
            scripts: document.scripts.length,
            title: document.title,
            text: document.body.innerText,
            stages: Array.from(document.querySelectorAll('tr[data-stage]')).map(r => ({
                stage: r.dataset.stage, in: +r.dataset.in, out: +r.dataset.out, dropped: +r.dataset.dropped})),
            totals: Object.fromEntries(Object.entries(document.getElementById('totals').dataset).map(
                ([k, v]) => [k, +v])),
        })""")
        if screenshot:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return {**found, "problems": problems}


def test_the_report_of_a_web_run_loads_cleanly_and_adds_up(web_run):
    page = write_report(web_run)
    summary = json.loads((web_run / "summary.json").read_text())
    seen = open_page(page, ARTIFACTS / "report.png")
    assert seen["problems"] == [] and seen["broken"] == []
    assert seen["images"] >= 2 + len(summary["signals"])  # funnel, languages, one per signal, clusters
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000
    # Every number in the funnel is the run's own, and the funnel adds up.
    stats = json.loads((web_run / "stats.json").read_text())
    assert [s["stage"] for s in seen["stages"]] == [s["stage"] for s in stats["stages"]]
    for shown, counted in zip(seen["stages"], stats["stages"]):
        assert (shown["in"], shown["out"]) == (counted["in"], counted["out"])
        assert shown["in"] == shown["out"] + shown["dropped"], shown["stage"]
    for before, after in zip(seen["stages"], seen["stages"][1:]):
        assert after["in"] == before["out"]
    totals = seen["totals"]
    assert totals["records"] == totals["kept"] + totals["rejected"] + totals["quarantined"] == stats["totals"]["records"]
    assert totals["kept"] == seen["stages"][-1]["out"]
    assert sum(s["dropped"] for s in seen["stages"]) == totals["rejected"] + totals["quarantined"]
    # The quality signals carry the thresholds that removed documents.
    removed = {t["reason"]: t["removed"] for fig in summary["signals"].values() for t in fig["thresholds"]}
    quality = next(s for s in stats["stages"] if s["stage"] == "quality")
    assert removed and all(quality["rejected"][reason] == n for reason, n in removed.items())
    for fig in summary["signals"].values():  # histograms, not values: summary.json stays small
        assert sum(fig["counts"]) == fig["documents"] and len(fig["edges"]) == len(fig["counts"]) + 1
    assert summary["dedup"]["sample_clusters"], "no duplicate cluster to show"
    assert "Deduplication" in seen["text"] and "Quality signals" in seen["text"]


def test_document_text_cannot_run_in_the_report(tmp_path):
    hostile = "<script>document.title = 'pwned'</script><img src=x onerror=\"document.title='pwned'\"> " * 3
    docs = tmp_path / "in" / "docs.jsonl"
    docs.parent.mkdir()
    docs.write_text("".join(json.dumps({"text": hostile + f"copy {i // 2}"}) + "\n" for i in range(4)))
    run = tmp_path / "run"
    assert curate(run, [{"name": "hostile", "glob": str(docs)}], filters="none", pii=False).problems == []
    seen = open_page(write_report(run))
    assert seen["title"] == "Run report" and seen["scripts"] == 0
    assert "<script>document.title = 'pwned'</script>" in seen["text"]  # shown as text
    assert seen["problems"] == [] and seen["broken"] == []  # no <img> was made from the text either


def test_compare_prints_the_differences_per_stage_and_reason(web_run, tmp_path):
    other = tmp_path / "other"
    same = compare(web_run, web_run)
    assert same.splitlines()[-1].startswith("0 of ") and "  *" not in same
    stats = json.loads((web_run / "stats.json").read_text())
    changed = json.loads(json.dumps(stats))
    changed["stages"][-1]["out"] += 1
    (other).mkdir()
    (other / "stats.json").write_text(json.dumps(changed))
    diff = compare(web_run, other)
    marked = [line for line in diff.splitlines() if line.endswith("  *")]
    assert len(marked) == 1 and marked[0].startswith(f"{stats['stages'][-1]['stage']} out") and "+1" in marked[0]
    assert diff.splitlines()[-1].startswith("1 of ")


def test_the_report_shows_token_shards_and_training(curated, token_shards, tmp_path):
    from trainer.config import load_config
    from trainer.train import train

    settings = ["model.n_layer=1", "model.n_head=2", "model.d_model=32", "data.seq_len=32", "data.global_batch=4",
                "data.micro_batch=4", "train.max_steps=6", "train.log_every=2", "train.eval_every=3",
                "train.eval_sequences=4", "train.progress=false", "train.tensorboard=false"]
    train(load_config(str(REPO / "configs/train/tiny.yaml"), settings), str(token_shards), str(tmp_path / "train"))
    seen = open_page(write_report(curated, token_shards, tmp_path / "train"), ARTIFACTS / "report-training.png")
    assert seen["problems"] == [] and seen["broken"] == []
    summary = json.loads((curated / "summary.json").read_text())
    assert [e["step"] for e in summary["training"]["evals"]] == [0, 3, 6]
    assert summary["tokens"]["splits"]["train"]["tokens"] > 0
    assert "held-out loss" in seen["text"] and "heldout" in seen["text"]


def test_runs_from_before_the_exact_stage_was_renamed_read_under_its_name(tmp_path):
    """An old run's `dedup` stage (rejects/dedup/, stats.json, the reject rows) is today's exact_dedup."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.report.compare import load_counts
    from pipelines.report.summary import _DEDUP, _of_stages, _table

    path = tmp_path / "rejects" / "dedup" / "part-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a", "c"], "stage": ["dedup", "quality"], "duplicate_of": ["b", None]}), path)
    assert _of_stages([path], _DEDUP) == [path]
    assert _table(path, ["id", "stage"])["stage"].to_pylist() == ["exact_dedup", "quality"]
    stats = {"totals": {"kept": 1}, "languages": {},
             "stages": [{"stage": "dedup", "in": 2, "out": 1, "rejected": {"exact_duplicate": 1}, "quarantined": {}}]}
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    counts = load_counts(tmp_path)
    assert counts[("exact_dedup", "exact_duplicate")] == 1 and ("dedup", "in") not in counts
