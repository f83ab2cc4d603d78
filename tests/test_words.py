"""Word and sentence splitting: the remembered-pieces path gives exactly spaCy's tokens and sentences,
and the languages without spaces get a real segmenter."""

import bz2

import pytest
import spacy

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
