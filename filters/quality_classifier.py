"""A fastText quality classifier, DCLM style: P(reference-quality text) for every document, kept as
the `quality_score` signal, with documents under a threshold dropped.

The threshold is `min_score`, or `keep_top_fraction`: the score above which that share of the
calibration pool lies, recorded beside the model when it was trained
(pipelines.train_quality_classifier). The model file is read when first needed on each worker.
"""

import json
import re
from dataclasses import dataclass

from filters.base import Decision

POSITIVE = "__label__hq"
NEGATIVE = "__label__cc"
_SPACES = re.compile(r"\s+")


def model_input(text: str, max_chars: int = 20_000) -> str:
    """One line of lowercased text, as the classifier is trained and asked (fastText reads a line)."""
    return _SPACES.sub(" ", text[:max_chars].lower()).strip()


@dataclass
class QualityClassifier:
    model: str = "models/quality_fasttext.bin"
    min_score: float = 0.0
    keep_top_fraction: float = 0.0  # if set, overrides min_score with the calibrated threshold

    name = "quality_classifier"
    signals = ("quality_score",)

    def __post_init__(self):
        self._model = None
        self._threshold = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_model", "_threshold")}

    def __setstate__(self, state):
        self.__dict__.update(state, _model=None, _threshold=None)

    def _load(self) -> None:
        import fasttext

        fasttext.FastText.eprint = lambda *args, **kwargs: None
        self._model = fasttext.load_model(self.model)
        self._threshold = self.min_score
        if self.keep_top_fraction:
            with open(self.model + ".json", encoding="utf-8") as fh:
                quantiles = json.load(fh)["calibration"]["top_fraction_thresholds"]
            key = f"{self.keep_top_fraction:g}"
            if key not in quantiles:
                raise ValueError(f"no calibrated threshold for keep_top_fraction={key}; have {sorted(quantiles)}")
            self._threshold = quantiles[key]

    def score(self, text: str) -> float:
        if self._model is None:
            self._load()
        labels, probs = self._model.predict([model_input(text)], k=2)
        scores = dict(zip(labels[0], probs[0]))
        return min(1.0, float(scores.get(POSITIVE, 0.0)))

    def __call__(self, doc: dict) -> Decision:
        score = self.score(doc["text"])
        signals = {"quality_score": score}
        if self._threshold and score < self._threshold:
            return Decision(False, f"{self.name}.{'keep_top_fraction' if self.keep_top_fraction else 'min_score'}",
                            f"quality_score={score:.4g} < {self._threshold:.4g}", signals)
        return Decision(True, signals=signals)
