"""Filter presets and the quality classifier against DCLM's human quality labels.

    python bench/quality_labels.py [--data-dir ../shared/data] [--model models/quality_fasttext.bin]

The 281 web documents of dclm_human_quality_labels on which DCLM's annotators agreed (152 good,
129 poor). A preset "predicts good" when it keeps a document; precision is the share of kept
documents that are good, recall the share of good documents kept. The classifier is scored with
ROC AUC (the chance that a good document outscores a poor one). Documents are normalised and
language-identified as the pipeline does first.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filters.langid import LanguageIdentifier  # noqa: E402
from filters.normalise import normalise_text  # noqa: E402
from filters.presets import load_preset  # noqa: E402
from filters.quality_classifier import QualityClassifier  # noqa: E402

PRESETS = ("none", "gopher", "c4-tfds", "c4-datatrove", "fineweb", "web")


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney U over average ranks (ties share a rank)."""
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--model", default=str(REPO / "models" / "quality_fasttext.bin"))
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in open(Path(args.data_dir) / "dclm_human_quality_labels" / "agreement_data.jsonl",
                                              encoding="utf-8")]
    lid = LanguageIdentifier()
    docs = []
    for row in rows:
        text = normalise_text(row["text"])
        docs.append({"text": text, "lang": lid.identify(text)[0], "url": None})
    labels = np.array([int(r["label"]) for r in rows])
    print(f"{len(rows)} documents: {labels.sum()} labelled good, {(1 - labels).sum()} poor\n")
    print(f"{'preset':14} {'kept':>5} {'precision':>10} {'recall':>7} {'F1':>6}")
    results = {}
    for name in PRESETS:
        _, chain = load_preset(name)
        kept = np.array([chain(d).keep for d in docs])
        tp = int((kept & (labels == 1)).sum())
        precision = tp / kept.sum() if kept.sum() else float("nan")
        recall = tp / labels.sum()
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        results[name] = {"kept": int(kept.sum()), "precision": precision, "recall": recall, "f1": f1}
        print(f"{name:14} {kept.sum():>5} {precision:10.3f} {recall:7.3f} {f1:6.3f}")
    if Path(args.model).exists():
        classifier = QualityClassifier(model=args.model)
        scores = np.array([classifier.score(d["text"]) for d in docs])
        results["classifier_auc"] = roc_auc(scores, labels)
        print(f"\nquality classifier {args.model}: ROC AUC {results['classifier_auc']:.3f}")
        meta = Path(args.model + ".json")
        if meta.exists():
            print(f"  trained on {json.loads(meta.read_text())['passages']}")
    else:
        print(f"\n(no classifier at {args.model}: run `make quality-classifier`)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
