"""The DCLM-style fastText quality classifier: training is reproducible, and the filter scores and
thresholds documents."""

import hashlib
import json

import pytest

from conftest import curate
from filters.quality_classifier import QualityClassifier
from pipelines.quality_classifier import train


@pytest.fixture(scope="module")
def model(tmp_path_factory, data_dir):
    base = tmp_path_factory.mktemp("qc")
    run = base / "run"
    curate(run, [{"name": "web", "glob": str(data_dir / "web_warc_dolma_wget" / "*.warc.gz")},
                 {"name": "cc", "glob": str(data_dir / "cc_warc_2020_34_resiliparse" / "*.warc.gz")},
                 {"name": "ccnet", "glob": str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz")}], filters="none")
    first = train(run, data_dir, base / "a" / "model.bin")
    second = train(run, data_dir, base / "b" / "model.bin")
    return base, first, second


def test_training_is_reproducible_and_calibrated(model):
    base, first, second = model
    assert first["sha256"] == second["sha256"]
    assert first["passages"]["reference"] == first["passages"]["web_used"] > 50
    thresholds = first["calibration"]["top_fraction_thresholds"]
    assert thresholds["0.1"] >= thresholds["0.5"]  # a smaller top share needs a higher score
    assert json.loads((base / "a" / "model.bin.json").read_text())["sha256"] == \
        hashlib.sha256((base / "a" / "model.bin").read_bytes()).hexdigest()


def test_filter_scores_and_thresholds(model, data_dir):
    base, first, _ = model
    path = str(base / "a" / "model.bin")
    wiki = "The city was founded in the twelfth century and became a centre of trade. " * 12
    spam = "click here best price buy now free shipping casino bonus " * 12
    scorer = QualityClassifier(model=path)
    assert scorer.score(wiki) > scorer.score(spam)
    top = QualityClassifier(model=path, keep_top_fraction=0.1)
    decision = top({"text": spam})
    assert not decision.keep and decision.reason == "quality_classifier.keep_top_fraction"
    assert decision.signals["quality_score"] == pytest.approx(scorer.score(spam))
    assert QualityClassifier(model=path)({"text": spam}).keep  # no threshold: scores only
