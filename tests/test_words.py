"""Word and sentence splitting: the remembered-pieces path gives exactly spaCy's tokens and sentences,
and the languages without spaces get a real segmenter."""

import bz2
import random

import pytest
import spacy

from filters import words as words_module
from filters.words import SegmenterSplitter, SpacySplitter, splitter_for, uses_spaces
from pipelines.sources.wikipedia import wikitext_to_text


@pytest.fixture(scope="module")
def texts(data_dir):
    raw = bz2.decompress(next((data_dir / "enwiki_xml_dump_sample").glob("*.bz2")).read_bytes()).decode()
    pages = raw.split("<text xml:space=\"preserve\">")[1:40]
    out = [wikitext_to_text(p.split("</text>")[0]) for p in pages]
    book = (data_dir / "gutenberg_en" / "84-0.txt").read_text(encoding="utf-8-sig")
    out += [book[i:i + 5000] for i in range(0, 100_000, 5000)]  # hard-wrapped, odd white space
    return [t for t in out if t.strip()]


def test_words_are_spacy_tokens(texts):
    nlp = spacy.blank("en")
    ours = SpacySplitter("en")
    for text in texts:
        expected = [t.text.strip() for t in nlp(text) if t.text.strip()]
        assert ours.words(text) == expected


def test_sentences_are_spacy_sentencizer_sentences(texts):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ours = SpacySplitter("en")
    lines = [line.strip() for text in texts for line in text.splitlines() if line.strip()]
    for piece in texts + lines[:2000] + ["", "  Leading space. Two  spaces.\tTab. \n\nNew lines!?"]:
        assert ours.sentence_count(piece) == len(list(nlp(piece).sents)), piece[:80]


def test_segmenters():
    assert not uses_spaces("zh") and uses_spaces("ko") and uses_spaces(None)
    assert isinstance(splitter_for("zh"), SegmenterSplitter) and isinstance(splitter_for("ko"), SpacySplitter)
    zh = splitter_for("zh")
    assert zh.words("我们今天在北京学习中文。") == ["我们", "今天", "在", "北京", "学习", "中文", "。"]
    assert zh.sentence_count("第一句话。第二句话！第三句？") == 3
    assert "日本語" in splitter_for("ja").words("私は日本語を勉強しています。")
    assert splitter_for("th").words("ฉันชอบกินข้าวผัด") == ["ฉัน", "ชอบ", "กิน", "ข้าวผัด"]


def test_curation_filters_load_spacy_without_torch():
    """A curation worker splits words and checks C4's sentences without importing torch (thinc would,
    at about 1.5 CPU s a process), and torch still imports normally afterwards."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from filters.presets import load_preset\n"
            "_, chain = load_preset('fineweb')\n"
            "chain({'id': 'x', 'text': 'One sentence here. And a second one!\\nA line.', 'lang': 'en',"
            " 'lang_score': 1.0, 'source': 's'})\n"
            "assert 'spacy' in sys.modules and 'torch' not in sys.modules, 'torch loaded'\n"
            "import torch\n"
            "print(torch.ones(3).sum().item())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "3.0"


def test_the_compiled_loop_is_built():
    """`pip install -e .` (make venv) builds filters/_splitwords.c; without it the words are the same
    in about 1.3 times the CPU time, which no other test would notice."""
    assert words_module._compiled_split is not None, "not built: .venv/bin/pip install --no-deps -e . (needs a C compiler)"
    assert SpacySplitter("en")._compiled is not None
    assert SpacySplitter("de")._compiled is None  # other languages' pieces of letters need spaCy


WHITE_SPACE = "".join(ch for ch in map(chr, range(0x110000)) if ch.isspace())
# Letters and not letters of each width (str.isalpha as the judge): ASCII, Latin-1, the Basic
# Multilingual Plane and beyond it; combining marks, digits of other scripts, symbols.
CHARACTERS = ("aZ,.'()-:;!?$%0" "éÿ×ª²" "ΩжשإḀ中ー\u0301\u0663№€’“" "𝐀𝔘𐐀𝟘😀\U000e0001")


def test_compiled_and_python_loops_give_the_same_words(texts):
    """The compiled loop against the Python one: real texts twice (pieces new, then remembered),
    then random texts of letters and not letters of every string width between every kind of white
    space, each piece new or seen, repeated within a text, and the special cases of letters."""
    compiled, python = SpacySplitter("en"), SpacySplitter("en")
    python._compiled = None
    for text in texts + texts:
        assert compiled.words(text) == python.words(text)
    rng = random.Random(3)
    specials = ["cannot", "Cannot", "gonna", "dont", "Im", "id", "):", "etc.", "U.S.", "methods):", "(in):"]
    for _ in range(3000):
        pieces = ["".join(rng.choices(CHARACTERS, k=rng.randint(1, 6))) for _ in range(rng.randint(0, 12))]
        pieces += rng.choices(specials, k=rng.randint(0, 3))
        rng.shuffle(pieces)
        gaps = ["".join(rng.choices(WHITE_SPACE + "  ", k=rng.randint(1, 3))) for _ in range(len(pieces) + 1)]
        text = "".join(gap + piece for gap, piece in zip(gaps, pieces + [""]))
        if rng.random() < 0.5:
            text = text.strip()
        assert compiled.words(text) == python.words(text), repr(text)
        assert compiled.words(text + " " + text) == python.words(text + " " + text), repr(text)
