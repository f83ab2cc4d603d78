"""The DCLM-style fastText quality classifier: training is reproducible, and the filter scores and
thresholds documents."""

import hashlib
import json
import math

import pytest

from conftest import curate
from filters.quality_classifier import QualityClassifier
from pipelines.train_quality_classifier import TOP_FRACTIONS, passages, train, web_texts


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
    # Each threshold is the (1 - f) quantile of the run's web passages under the trained model: fewer
    # than f of them score above it, at least f score it or more.
    scorer = QualityClassifier(model=str(base / "a" / "model.bin"))
    pool = [scorer.score(p) for t in web_texts(base / "run") for p in passages(t)]
    assert len(pool) == first["passages"]["web_pool"]
    thresholds = first["calibration"]["top_fraction_thresholds"]
    assert sorted(thresholds) == sorted(f"{f:g}" for f in TOP_FRACTIONS)
    for fraction, threshold in thresholds.items():
        above, at_least = sum(s > threshold for s in pool), sum(s >= threshold for s in pool)
        assert above < float(fraction) * len(pool) <= at_least, (fraction, threshold, above, at_least, len(pool))
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
    threshold = first["calibration"]["top_fraction_thresholds"]["0.1"]
    assert decision.detail == f"quality_score={scorer.score(spam):.4g} < {threshold:.4g}"
    # min_score: a score equal to it is kept, one just under it dropped.
    low, high = scorer.score(spam), scorer.score(wiki)
    assert low < high
    at_wiki = QualityClassifier(model=path, min_score=high)
    assert at_wiki({"text": wiki}).keep and at_wiki({"text": wiki}).signals == {"quality_score": high}
    decision = at_wiki({"text": spam})
    assert (decision.keep, decision.reason) == (False, "quality_classifier.min_score")
    assert not QualityClassifier(model=path, min_score=math.nextafter(high, 2.0))({"text": wiki}).keep
    assert QualityClassifier(model=path, min_score=low)({"text": spam}).keep
    with pytest.raises(ValueError, match="no calibrated threshold for keep_top_fraction=0.25"):
        QualityClassifier(model=path, keep_top_fraction=0.25).score(wiki)
