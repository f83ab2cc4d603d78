"""filters.fasttext_cache against the fastText library: the same label and probability, bit for bit,
on real text in many languages, on the corner cases of fastText's reading, and on models trained
here of the kinds it reproduces (pruned and quantized, and plain)."""

import subprocess
import sys
import zipfile

import fasttext
import numpy as np
import pytest

from filters import fasttext_cache
from filters.fasttext_cache import CachedPredictor
from filters.langid import LanguageIdentifier

CORNERS = ["", "   ", "</s>", "a </s> b c", "</s> first", "x</s> y", "__label__en hello", "__label__zz",
           "null\x00separated\x00words", "tab\tvertical\vform\ffeed\rreturn", "no\u00a0break\u2003em space",
           "a" * 5000, "日本語のテキストと English words", "emoji 🙂🙂 and ∑ symbols", "l'été à Paris", "Straße",
           "x", "\x85next line", "i\u0307 dotted", "ǅ titlecase"]


def real_texts(data_dir) -> list[str]:
    texts = []
    with zipfile.ZipFile(data_dir / "udhr2_unicode" / "udhr2.zip") as z:
        for name in sorted(n for n in z.namelist() if n.endswith(".txt")):
            text = z.read(name).decode("utf-8")
            texts += [text, text[:200], text[:20]]
    for name in ("zh/chinese", "ru/2001.03", "de/anekdoten", "es/amistad.fortunes"):
        texts += (data_dir / "fortunes_multilingual" / name).read_text(encoding="utf-8").split("\n%\n")
    return [t.replace("\n", " ") for t in texts]


def library(model, line):
    labels, probs = model.predict([line], k=1)
    return (labels[0][0][len("__label__"):], float(probs[0][0])) if labels[0] else None


def cached(predictor, line):
    found = predictor.predict(line)
    return None if found is None else (predictor.labels[found[0]], found[1])


@pytest.fixture(scope="module")
def lid():
    return LanguageIdentifier(cached=False)


@pytest.fixture(scope="module")
def texts(data_dir):
    return real_texts(data_dir) + CORNERS


def test_the_compiled_loop_is_built():
    assert fasttext_cache._compiled_predict is not None  # else every prediction goes to the library


def test_lid176_predictions_are_fasttexts_bit_for_bit(lid, texts):
    predictor = CachedPredictor.for_model(lid._model, lid.model_path)
    assert predictor is not None
    expected = [library(lid._model, t) for t in texts]
    assert len(texts) > 300 and len({e[0] for e in expected if e}) > 10  # many languages, even in tests/data
    for _ in range(2):  # learning every token, then from what it learnt
        assert [cached(predictor, t) for t in texts] == expected


def test_row_ids_are_fasttexts(lid, texts):
    predictor = CachedPredictor.for_model(lid._model, lid.model_path)
    tokens = sorted({token for t in texts for token in t.split()} | {"</s>", "a", "__label__en"})
    assert len(tokens) > 5000
    expected = [[] if t.startswith("__label__") else lid._model.get_subwords(t)[1].tolist() for t in tokens]
    assert [predictor.row_ids(t) for t in tokens] == expected


def test_starting_again_when_full_changes_nothing(lid, texts):
    predictor = CachedPredictor.for_model(lid._model, lid.model_path)
    predictor.LIMIT = 50
    sample = texts[::7]
    assert [cached(predictor, t) for t in sample] == [library(lid._model, t) for t in sample]
    assert len(predictor._tokens) < 50 + max(len(t.split()) for t in sample) + 1


def test_text_fasttext_cannot_read_fails_as_the_library_does(lid):
    """A lone surrogate has no UTF-8: the library cannot take the string, nor can the cache (the
    stage quarantines the document either way)."""
    predictor = CachedPredictor.for_model(lid._model, lid.model_path)
    with pytest.raises(UnicodeEncodeError):
        predictor.predict("lone \ud800 surrogate")
    with pytest.raises(TypeError):
        lid._model.predict(["lone \ud800 surrogate"], k=1)


def test_identify_uses_the_cache_and_agrees(lid, texts):
    fast = LanguageIdentifier()
    assert fast._cached is not None
    assert [fast.identify(t) for t in texts] == [lid.identify(t) for t in texts]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """A small language identifier of each kind, trained here on the UDHR's lines, labelled by file."""
    folder = tmp_path_factory.mktemp("ft")
    lines = []
    with zipfile.ZipFile(data_dir / "udhr2_unicode" / "udhr2.zip") as z:
        for name in sorted(n for n in z.namelist() if n.endswith(".txt"))[:40]:
            label = name.rsplit("/", 1)[-1][:-len(".txt")]
            lines += [f"__label__{label} {line}" for line in z.read(name).decode("utf-8").split("\n")
                      if len(line.split()) >= 3]
    train = folder / "train.txt"
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    models = {kind: folder / name for kind, name in
              (("hs", "hs.bin"), ("hs-quantized", "hs.ftz"), ("softmax", "softmax.bin"))}
    # each in a process of its own: fastText's training can hit NaN in a process that trained before
    for loss in ("hs", "softmax"):
        subprocess.run([sys.executable, "-c", TRAIN, str(train), loss, str(folder)], check=True)
    return models


# the hs model is also pruned to its 500 most useful words and n-grams and product-quantized
TRAIN = """
import sys, fasttext
train, loss, folder = sys.argv[1:]
model = fasttext.train_supervised(train, loss=loss, dim=8, minn=2, maxn=4, bucket=5000, epoch=2, lr=0.1, thread=1,
                                  seed=1, verbose=0)
model.save_model(f"{folder}/{loss}.bin")
if loss == "hs":
    model.quantize(input=train, cutoff=500, retrain=False, qnorm=False, dsub=2)
    model.save_model(f"{folder}/{loss}.ftz")
"""


@pytest.mark.parametrize("kind", ["hs", "hs-quantized"])
def test_models_of_other_shapes_are_reproduced(trained, texts, kind):
    model = fasttext.load_model(str(trained[kind]))
    predictor = CachedPredictor.for_model(model, str(trained[kind]))
    assert predictor is not None
    assert [cached(predictor, t) for t in texts] == [library(model, t) for t in texts]


def test_models_it_does_not_reproduce_go_to_the_library(trained):
    model = fasttext.load_model(str(trained["softmax"]))
    assert CachedPredictor.for_model(model, str(trained["softmax"])) is None
    identifier = LanguageIdentifier(str(trained["softmax"]))
    assert identifier._cached is None
    assert identifier.identify("hello world")[0] in identifier.labels


def test_read_model_parts_checks_the_file(lid, tmp_path):
    broken = tmp_path / "broken.ftz"
    raw = bytearray(open(lid.model_path, "rb").read())
    raw[-176 * 16 * 4 - 16] = 99  # the output matrix's row count
    broken.write_bytes(bytes(raw))
    with pytest.raises(fasttext_cache.UnsupportedModel):
        fasttext_cache.read_model_parts(str(broken), 16, 176)
    kept, output = fasttext_cache.read_model_parts(lid.model_path, 16, 176)
    assert output.shape == (176, 16) and output.dtype == np.float32
    assert kept is not None and (kept >= 0).sum() == kept.max() + 1  # every kept bucket, once
