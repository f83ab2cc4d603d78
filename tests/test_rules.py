"""Every rule of the Gopher, C4 and FineWeb families, pinned on small inputs."""

import pytest

from filters.c4 import C4Quality
from filters.fineweb import FineWebQuality
from filters.gopher_quality import GopherQuality
from filters.gopher_repetition import GopherRepetition
from filters.presets import load_preset


def doc(text, lang="en"):
    return {"text": text, "lang": lang}


SENTENCE = "The quick brown fox jumps over the lazy dog and then it runs to the river with the other animals."
PROSE = "\n\n".join(
    f"{SENTENCE} Paragraph {i} tells how the {w} happened, and what the village said about it that year."
    for i, w in enumerate(["flood", "harvest", "wedding", "storm", "fair", "election", "fire"]))


@pytest.mark.parametrize("text, rule", [
    ("The cat sat on the mat with the dog.", "min_doc_words"),
    ("the and of " + "a b c " * 30, "min_avg_word_length"),
    ("the and of to " + "extraordinarily incomprehensibilities " * 40, "max_avg_word_length"),
    (PROSE + " #tag" * 80, "max_symbol_word_ratio"),
    (PROSE + " ..." * 40, "max_symbol_word_ratio"),
    ("\n".join(f"- item number {i} of the list with the words" for i in range(30)), "max_bullet_lines_ratio"),
    ("\n".join(f"the story of line {i} goes on and on with the..." for i in range(30)), "max_ellipsis_lines_ratio"),
    ("the and of to with " + "value = [1000, 2000, 3000]; other = {4000: 5000}; " * 30, "min_alpha_words_ratio"),
    ("Quick brown foxes jump over lazy dogs in green fields near rivers. " * 8, "min_stop_words"),
])
def test_gopher_quality_rules(text, rule):
    decision = GopherQuality()(doc(text))
    assert (decision.keep, decision.reason) == (False, f"gopher_quality.{rule}")
    signal = decision.detail.split("=")[0]
    assert signal in GopherQuality.signals and decision.signals[signal] is not None


def test_gopher_quality_counts_like_datatrove():
    import spacy

    from filters.text import PUNCTUATION_SET

    tokens = [t.text for t in spacy.blank("en")(PROSE) if not t.is_space]
    s = GopherQuality().measure(PROSE, "en")
    assert s["gopher_word_count"] == sum(any(c not in PUNCTUATION_SET for c in t) for t in tokens)
    assert s["gopher_stop_words"] == 5  # distinct: the, to, and, with, that (not occurrences)
    assert GopherQuality()(doc(PROSE)).keep


def test_gopher_quality_scripts():
    # Japanese is segmented and judged; its words are short by nature, so that rule abstains.
    text = "私は毎朝、駅の近くの公園を散歩してから会社へ行きます。" * 12
    s = GopherQuality().measure(text, "ja")
    assert s["gopher_word_count"] > 50 and s["gopher_mean_word_length"] is None
    # Stop words come from stopwords-iso for other languages; without a list the rule abstains.
    assert GopherQuality().measure("Das ist ein kleines Haus.", "de")["gopher_stop_words"] >= 2
    assert GopherQuality().measure("tlhIngan maH", "tlh")["gopher_stop_words"] is None


def _lines(*lines):
    return "\n".join(lines)


@pytest.mark.parametrize("text, rule", [
    (_lines(*["Same paragraph here."] * 4, "Other."), "dup_line_frac"),  # lines repeat (no blank lines)
    ("\n\n".join(["A paragraph that repeats."] * 3 + ["Different one.", "Another one."]), "dup_para_frac"),
    ("\n\n".join([SENTENCE * 3, SENTENCE * 3, "short one", "short two", "short three", "x"]), "dup_para_char_frac"),
    (_lines(SENTENCE * 3, SENTENCE * 3, "a", "b", "c", "d", "e", "f"), "dup_line_char_frac"),
    ("buy now " * 40 + SENTENCE, "top_2gram_char_frac"),
    (" ".join(f"aa bb extraordinarily filler{i}" for i in range(10)) + " " + " ".join(f"word{i}" for i in range(120)),
     "top_3gram_char_frac"),
    (" ".join(f"w{i} w{i+1} w{i+2} w{i+3} w{i+4}" for i in range(0, 40, 5)) * 3, "dup_5gram_char_frac"),
])
def test_gopher_repetition_rules(text, rule):
    decision = GopherRepetition()(doc(text))
    assert (decision.keep, decision.reason) == (False, f"gopher_repetition.max_{rule}")


@pytest.fixture(scope="module")
def alice(data_dir):
    book = (data_dir / "gutenberg_en" / "11-0.txt").read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    start = book.index("Alice was beginning")
    # Gutenberg wraps lines at 70 characters; web text has a paragraph to a line.
    return "\n\n".join(" ".join(p.split("\n")) for p in book[start:start + 4000].split("\n\n"))


def test_real_prose_passes_every_family(alice):
    for name in ("gopher", "fineweb"):
        decision = load_preset(name)[1](doc(alice))
        assert decision.keep, (name, decision)
    assert GopherRepetition()(doc(alice)).signals["gopher_dup_5gram_char_frac"] < 0.01


def test_repeated_ngrams_compare_joined_characters():
    # datatrove joins 5- to 10-grams without spaces, so "ab c" repeats "a bc".
    from filters.gopher_repetition import _WordWindows, repeated_ngram_chars

    words = "a bc d e f ab c d e f".split()
    assert repeated_ngram_chars(_WordWindows(words), 5) == len("abcdef")


C4_GOOD = [f"This is sentence number {i} of a page that says something worth reading." for i in range(6)]


@pytest.mark.parametrize("preset, lines, reason", [
    ("c4-datatrove", C4_GOOD[:4], "c4.min_num_sentences"),  # 4 < 5
    ("c4-tfds", C4_GOOD[:2], "c4.min_num_sentences"),  # 2 < 3
    ("c4-datatrove", C4_GOOD + ["Lorem ipsum dolor sit amet, consectetur."], "c4.filter_lorem_ipsum"),
    ("c4-datatrove", C4_GOOD + ["Call the function f(x) { return x; } now."], "c4.filter_curly_bracket"),
])
def test_c4_page_rules(preset, lines, reason):
    decision = load_preset(preset)[1](doc("\n".join(lines)))
    assert (decision.keep, decision.reason) == (False, reason)


def test_c4_line_rules_clean_the_page():
    lines = C4_GOOD + [
        "Home | About | Contact",  # no terminal mark
        "Too short.",  # under the word minimum
        "Please enable JavaScript to view this page properly.",
        "By using this site you agree to our terms of use.",
        "See the history of the town for more details [citation needed].",
        "A word that is far too long: " + "x" * 1001 + ".",
        "And so the story went on...",  # an ellipsis is not an end mark
    ]
    decision = load_preset("c4-datatrove")[1](doc("\n".join(lines)))
    assert decision.keep
    assert decision.text.splitlines() == C4_GOOD + ["See the history of the town for more details ."]
    assert (decision.signals["c4_lines"], decision.signals["c4_lines_kept"]) == (13, 7)


def test_c4_presets_differ_as_their_sources_do():
    tfds, datatrove = load_preset("c4-tfds")[1], load_preset("c4-datatrove")[1]
    four_words = "\n".join(f"Four words line {i}." for i in range(6))
    assert not tfds(doc(four_words)).keep and datatrove(doc(four_words)).keep  # 5 vs 3 words a line
    quote = "\n".join(C4_GOOD[:5] + ["He said it was the 'best day'"])
    assert datatrove(doc(quote)).text.endswith("'best day'") and not tfds(doc(quote)).text.endswith("day'")


def test_c4_cjk_lines_use_their_own_marks():
    page = "\n".join(["今天我们去公园散步，看到了很多美丽的花。", "天气很好，大家都很开心。", "晚上我们一起吃饭。",
                      "首页 | 关于我们", "这本书讲述了一个关于友谊的故事。", "我非常喜欢这个故事。"])
    decision = C4Quality()(doc(page, "zh"))
    assert decision.keep and "首页 | 关于我们" not in decision.text
    assert decision.signals["c4_sentences"] == 5


@pytest.mark.parametrize("text, rule", [
    ("\n".join(["a heading without punctuation here"] * 2 + ["another one"] * 10), "min_line_punct_ratio"),
    ("\n".join(["Short line." for _ in range(10)] + [SENTENCE]), "max_short_line_ratio"),
    ("\n".join([SENTENCE, SENTENCE, "A different sentence that ends here.", "Yet another sentence."]),
     "max_char_dup_ratio"),
    ("\n".join(f"Item {i}." for i in range(30)), "max_newline_ratio"),
])
def test_fineweb_rules(text, rule):
    decision = FineWebQuality(max_short_line_ratio=0.67 if rule == "max_short_line_ratio" else 1)(doc(text)) \
        if rule != "max_newline_ratio" else FineWebQuality(max_short_line_ratio=1, max_char_dup_ratio=1)(doc(text))
    assert (decision.keep, decision.reason) == (False, f"fineweb_quality.{rule}")


def test_fineweb_judges_cjk_lines_by_their_length():
    chinese = "\n".join(["今天天气很好，我们一起去公园散步。"] + [f"第{i}章讲述了他在城市里的生活和工作。" for i in range(5)])
    s = FineWebQuality().measure(chinese, "zh")
    assert s["fineweb_short_line_ratio"] == 0  # 18-character lines are long lines of Chinese
    assert FineWebQuality().measure(chinese, "en")["fineweb_short_line_ratio"] == 1


def _only(rule: str) -> GopherRepetition:
    """Gopher repetition with every rule off but one."""
    from dataclasses import fields

    off = {f.name: 0 for f in fields(GopherRepetition) if f.name.startswith("max_") and f.name != rule}
    return GopherRepetition(**off)


@pytest.mark.parametrize("rule", [f"max_top_{n}gram_char_frac" for n in (2, 3, 4)]
                         + [f"max_dup_{n}gram_char_frac" for n in range(5, 11)])
def test_each_ngram_rule_alone(rule):
    words = 4 if "top" in rule else 12  # a short phrase for the most-frequent-n-gram rules
    phrase = " ".join(f"phrase{i}" for i in range(words))
    text = " ".join([phrase] * 15 + [f"unique{i}" for i in range(40)])
    decision = _only(rule)(doc(text))
    assert (decision.keep, decision.reason) == (False, f"gopher_repetition.{rule}")
    assert _only(rule)(doc(" ".join(f"unique{i}" for i in range(200)))).keep


def test_gopher_max_doc_words():
    decision = GopherQuality(max_doc_words=100)(doc(PROSE))
    assert (decision.keep, decision.reason) == (False, "gopher_quality.max_doc_words")
