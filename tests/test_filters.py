"""Normalisation, language ID and the Gopher quality rules, on small inputs and real text."""

import gzip
import zipfile

import pytest

from conftest import FULL_DATA
from filters.base import Decision, FilterChain
from filters.c4 import C4Quality
from filters.gopher_quality import GopherQuality
from filters.langid import LanguageIdentifier
from filters.normalise import normalise_text
from filters.presets import UnknownPreset, available_presets, load_preset
from schemas.signals import SIGNALS


def test_normalise_repairs_and_regularises():
    assert normalise_text("cafÃ© and naÃ¯ve") == "café and naïve"  # mojibake
    assert normalise_text("e\u0301") == "\u00e9"  # NFC
    assert normalise_text("\x1b[31mred\x1b[0m alert") == "red alert"  # terminal escapes
    assert normalise_text("a\r\nb\rc") == "a\nb\nc"
    assert normalise_text("a\u00a0b\u200bc  \t\n\n\n\nd  ") == "a bc\n\nd"
    assert normalise_text("def f():\n    return 1") == "def f():\n    return 1"  # indentation kept
    assert normalise_text("中文，测试！“引号”") == "中文，测试！“引号”"  # full-width punctuation and quotes kept
    assert normalise_text("  \n\n  ") == ""


@pytest.fixture(scope="module")
def lid():
    return LanguageIdentifier()


def test_langid_on_udhr(lid, data_dir):
    with zipfile.ZipFile(data_dir / "udhr2_unicode" / "udhr2.zip") as z:
        names = {n.rsplit("/", 1)[-1]: n for n in z.namelist()}
        expected = {"eng.txt": "en", "deu_1996.txt": "de", "fra.txt": "fr", "rus.txt": "ru", "cmn_hans.txt": "zh",
                    "jpn.txt": "ja", "arb.txt": "ar", "spa.txt": "es", "kor.txt": "ko"}
        for name, lang in expected.items():
            if name not in names:
                continue
            text = z.read(names[name]).decode("utf-8")[:3000]
            label, score = lid.identify(text)
            assert (label, score > 0.8) == (lang, True), name
    assert "en" in lid.labels and len(lid.labels) == 176


def test_langid_score_is_a_probability(lid):
    label, score = lid.identify("Das ist ein deutscher Satz über Häuser und Gärten.")
    assert label == "de" and 0.9 < score <= 1.0
    assert lid.identify("")[0] in lid.labels + ["und"]


def doc(text, lang="en"):
    return {"text": text, "lang": lang}


PROSE = ("The quick brown fox jumps over the lazy dog and then it runs to the river with the other animals "
         "that have been waiting there. ") * 4


def test_chain_stops_at_first_drop_and_merges_signals():
    calls = []

    class Probe:
        name, signals = "probe", ()

        def __call__(self, d):
            calls.append(d)
            return Decision(True)

    chain = FilterChain([GopherQuality(), Probe()])
    assert not chain(doc("too short")).keep and calls == []
    assert chain(doc(PROSE)).keep and len(calls) == 1
    # A filter that cleans hands its text to the next one, and the chain returns it.
    cleaning = FilterChain([C4Quality(min_num_sentences=0), Probe()])
    decision = cleaning(doc("Menu\nHome | About\n" + PROSE))
    assert decision.text == PROSE.strip() and calls[-1]["text"] == PROSE.strip()


def test_presets_and_signal_registry(tmp_path, monkeypatch):
    assert {"none", "gopher", "c4-tfds", "c4-datatrove", "fineweb", "gopher-technical"} <= set(available_presets())
    spec, chain = load_preset("fineweb")
    assert [f.name for f in chain.filters] == ["gopher_repetition", "gopher_quality", "c4", "fineweb_quality"]
    assert spec["filters"][1]["min_doc_words"] == 50 and isinstance(chain.filters[1], GopherQuality)
    assert load_preset("none")[1].filters == []
    with pytest.raises(UnknownPreset):
        load_preset("no-such-preset")
    # Every signal a filter writes has a typed column in the schema. The lists the web preset names
    # must exist (they are read lazily), so DATA_DIR points at stand-ins: this runs without shared data.
    (tmp_path / "easylist_url_blocklist").mkdir()
    (tmp_path / "easylist_url_blocklist" / "easylist.txt.gz").write_bytes(gzip.compress(b""))
    (tmp_path / "ldnoobw").mkdir()
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for name in available_presets():
        assert set(load_preset(name)[1].signals) <= set(SIGNALS)


def test_fast_ftfy_equals_ftfy_on_real_text(data_dir):
    import ftfy

    from filters.normalise import _FTFY, fix_text

    texts = []
    with zipfile.ZipFile(data_dir / "udhr2_unicode" / "udhr2.zip") as z:
        texts += [z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".txt")]
    for name in ("zh/chinese", "ru/2001.03", "de/anekdoten", "es/amistad.fortunes"):
        texts += (data_dir / "fortunes_multilingual" / name).read_text(encoding="utf-8").split("\n%\n")
    texts += [p.read_bytes().decode("cp1252", errors="replace")
              for p in (data_dir / "plagiarism_short_answers_clough_stevenson").glob("g*.txt")]
    texts += ["cafÃ© line\nplain\r\n\x1b[31mred\x1b[0m\n\x85 c1", "e\u0301\n\u2028x", "ﬁne", "BOM\ufeffin", "Ã©tÃ©"]
    assert len(texts) > (1000 if FULL_DATA else 300)  # every UDHR language and fortune: excerpts in tests/data
    assert [fix_text(t) for t in texts] == [ftfy.fix_text(t, _FTFY) for t in texts]
