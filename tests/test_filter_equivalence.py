"""The quality filters, PII redaction and normalisation give exactly what plain re-statements of
their rules give: every signal value, every decision and every text, on real text from the shared
data (Wikipedia, Gutenberg, WikiText, cc_net, web pages, the UDHR in many scripts, fortunes) and on
synthetic text made to be hard (heavy repetition, blank lines, bullets, odd white space, n-grams
that are equal only when joined, mojibake at every distance from ASCII text).

The filters take shortcuts for speed (shared per-word facts, hashes instead of strings, candidate
positions, reduced lines for sentence counting, searches only where a match can be); the
references below take none. Word splitting is the splitter's (filters.words, tested against
spaCy elsewhere), so the references ask it for words and for each line's sentence count.
"""

import bz2
import ipaddress
import gzip
import json
import random
import re
import threading
import zipfile
from collections import Counter

import ftfy
import phonenumbers
import pytest
import xxhash
from ftfy.badness import is_bad

import filters.text as text_module
from filters import c4 as c4_module
from filters.c4 import C4Quality
from filters.fineweb import FineWebQuality
from filters.gopher_quality import GopherQuality
from filters import gopher_repetition
from filters.gopher_repetition import GopherRepetition, _WordWindows, ngram_chars, repeated_ngram_chars, top_ngram_chars
from filters.langid import LanguageIdentifier
from filters.normalise import _FTFY, _is_bad, normalise_text
from filters.pii import _EMAIL, _IPV4, _MAYBE_PHONE, PiiRedactor
from filters.presets import load_preset
from filters.stopwords import stop_words_for
from filters.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION, word_columns
from filters.words import splitter_for, uses_spaces, words_of
from pipelines.sources import READERS, FileContext
from pipelines.extraction.html import charset_from_content_type, html_to_text
from pipelines.sources.wikipedia import wikitext_to_text

# ---------------------------------------------------------------------------------------------
# The texts

SYNTHETIC = [
    "",
    " ",
    "\n\n\n",
    "word",
    "buy now " * 60 + "and then something else entirely to close the page.",
    "a bc d e f ab c d e f a bc d e f ab c d e f g",  # 5-grams equal only when joined
    "ab c d e f gh a bc d e fg h ab c d e f gh",  # 6-grams likewise, with no 5-gram repeat
    "\n\n".join(["The same paragraph, again and again."] * 6 + ["A different one at the end."]),
    "\n".join(["- bullet item number one of the list", "\u2022 another bullet", "  - indented bullet"] * 8),
    "\n".join(f"the story of line {i} goes on and on with the..." for i in range(12)) + "\nEnd\u2026",
    "Line one.\r\nLine two.\rLine three.\u2028Line four.\u2029Line five.\x85Line six.\x0bseven\x0ceight\x1cnine",
    "   leading white space\t\ttabs\u00a0nbsp\u3000ideographic   \n\n\n\n  trailing   \t",
    "a tab ends this line\t\nand this one \t\nbut not this\n\tone",
    "Home | About | Contact\nLorem ipsum dolor sit amet, consectetur.\nfunction f(x) { return x; }\n"
    "Please enable JavaScript to view this page.\nBy using this site you agree to our terms of use.\n"
    "This website uses cookies to improve your experience.\nRead our Cookie Policy for the details.\n"
    "I like cookies and milk in the morning.\nSee the privacy policy.\n"
    "See the history of the town [1] for more [citation needed] and [edit] details.\n"
    "A word that is far too long: " + "x" * 1001 + ".\nAnd so the story went on...\nShort.",
    "He said: \"Stop!\" Then he left. (Really?) Yes... no. U.S. policy, e.g. this one, Mr. Smith. 3.14 is pi.",
    "Hello!!! What?!? \u00bfQu\u00e9? \u00a1S\u00ed! \u3002\u3001\uff01\uff1f \u0964 \u061f \u2026 \u203c \u2047",
    "  . , ; : - -- \u2014 ( ) [ ] ' \" \u201c\u201d \u2018\u2019 _ __init__ a_b #tag @user 100% $5 & more",
    "Write to jane.doe@university.edu or admin@[192.168.0.1]. The server at 8.8.8.8 answered, the router "
    "at 192.168.1.1 did not. Call (212) 555-0142 or +44 20 7946 0958 today. Version 3.14.159, 10.0.0.256.",
    "caf\u00c3\u00a9 and na\u00c3\u00afve, \u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d, e\u0301, \ufb01ne, "
    "\x1b[31mred\x1b[0m",
    "\u4eca\u5929\u6211\u4eec\u53bb\u516c\u56ed\u6563\u6b65\uff0c\u770b\u5230\u4e86\u5f88\u591a\u7f8e\u4e3d\u7684"
    "\u82b1\u3002\n" * 5,
    "\u79c1\u306f\u6bce\u671d\u3001\u99c5\u306e\u8fd1\u304f\u306e\u516c\u5712\u3092\u6563\u6b69\u3057\u3066"
    "\u304b\u3089\u4f1a\u793e\u3078\u884c\u304d\u307e\u3059\u3002" * 12,
    "\u0e27\u0e31\u0e19\u0e19\u0e35\u0e49\u0e2d\u0e32\u0e01\u0e32\u0e28\u0e14\u0e35\u0e21\u0e32\u0e01 " * 20,
    "\U0001d518\U0001d51e\U0001d52b \U0001f600 emoji \U0001f600 astral \U0001d518\U0001d51e\U0001d52b " * 10,
]


def _synthetic_repetition(seed: int) -> list[str]:
    """Texts of words from a tiny vocabulary, so that n-grams repeat at every size, some only when
    joined without spaces; with random line and paragraph breaks."""
    rnd = random.Random(seed)
    vocabulary = ["a", "b", "ab", "ba", "aa", "the", "of", "and", "cat.", "x,", "-"]
    out = []
    for _ in range(40):
        words = [rnd.choice(vocabulary[:rnd.randint(2, len(vocabulary))]) for _ in range(rnd.randint(0, 400))]
        seps = [rnd.choice([" "] * 12 + ["\n", "\n\n", "  ", "\t", "\n\n\n"]) for _ in words]
        out.append("".join(w + s for w, s in zip(words, seps)))
    return out


UDHR = ("eng", "deu", "fra", "spa", "rus", "arb", "heb", "hin", "tha", "vie", "cmn_hans", "cmn_hant", "jpn", "kor")


def _read(path, fmt, **options):
    ctx = FileContext("t", fmt, str(path), path.name, options)
    with open(path, "rb") as raw:
        return [d for d in READERS[fmt](raw, ctx) if isinstance(d, dict)]


def _real_texts(data) -> list[str]:
    texts = []
    raw = bz2.decompress(next((data / "enwiki_xml_dump_sample").glob("*.bz2")).read_bytes()).decode()
    texts += [wikitext_to_text(p.split("</text>")[0]) for p in raw.split('<text xml:space="preserve">')[1:80]]
    for name in ("11-0.txt", "84-0.txt", "1342-0.txt"):
        book = (data / "gutenberg_en" / name).read_text(encoding="utf-8-sig")
        texts += [book[i:i + 6000] for i in range(0, 36_000, 6000)]  # hard-wrapped, CRLF
    article: list[str] = []
    for line in (data / "wikitext2" / "test.txt").read_text(encoding="utf-8").splitlines()[:2000]:
        if line.startswith(" = ") and not line.startswith(" = = ") and article:
            texts.append("\n".join(article))
            article = []
        article.append(line)
    texts.append("\n".join(article))
    for path in sorted((data / "ccnet_jsonl_dolma").glob("*.jsonl.gz")):
        texts += [json.loads(line)["text"] for line in gzip.open(path, "rt", encoding="utf-8")][:20]
    for path in (data / "web_warc_dolma_wget" / "sample-0000.warc.gz", data / "cc_warc_2020_34_resiliparse" /
                 "warcfile.warc.gz"):
        for page in _read(path, "warc")[:12]:
            texts.append(html_to_text(page["content"], charset_from_content_type(page["content_type"]))["text"])
    for lang in ("en", "ja", "fr"):
        for path in sorted((data / "debian_reference_html" / lang).glob("*.html"))[:2]:
            texts.append(html_to_text(path.read_bytes())["text"])
    with zipfile.ZipFile(data / "udhr2_unicode" / "udhr2.zip") as z:  # the languages of tests/data's excerpt
        texts += [z.read(f"udhr2/{name}.txt").decode("utf-8")[:8000] for name in UDHR]
    for name in ("zh/chinese", "ru/love", "de/witze", "es/refranes.fortunes"):
        entries = (data / "fortunes_multilingual" / name).read_text(encoding="utf-8").split("\n%\n")
        texts += ["\n%\n".join(entries[i:i + 8]) for i in range(0, min(len(entries), 120), 8)]
    texts += [p.read_bytes().decode("cp1252", errors="replace")
              for p in sorted((data / "plagiarism_short_answers_clough_stevenson").glob("g*.txt"))]
    return texts


@pytest.fixture(scope="module")
def raw_texts(data_dir) -> list[str]:
    return _real_texts(data_dir) + SYNTHETIC + _synthetic_repetition(0)


@pytest.fixture(scope="module")
def docs(raw_texts) -> list[dict]:
    """Each text as the pipeline gives it to the filters (normalised, with its language), and
    each real text once more as it came, judged as English."""
    lid = LanguageIdentifier()
    out = []
    for i, text in enumerate(raw_texts):
        clean = normalise_text(text)
        out.append({"text": clean, "lang": lid.identify(clean)[0] if clean else "en"})
        if i % 3 == 0 or text in SYNTHETIC:
            out.append({"text": text, "lang": "en"})
    langs = Counter(d["lang"] for d in out)
    assert len(langs) >= 10 and {"en", "zh", "ja"} <= set(langs), langs  # many scripts, segmenters too
    return out


# ---------------------------------------------------------------------------------------------
# References: each rule as plainly as it can be written

def _duplicates(items):
    seen, count, chars = set(), 0, 0
    for item in items:
        if item in seen:
            count, chars = count + 1, chars + len(item)
        seen.add(item)
    return count, chars


def _top_ngram_chars(words, n):
    """datatrove's find_top_duplicate over n-grams joined by spaces; None without any n-gram."""
    grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return None
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def _repeated_ngram_chars(words, n):
    """datatrove's find_all_duplicate: n-grams joined without spaces; a repeat skips its n words."""
    joined, starts = "".join(words), [0]
    for w in words:
        starts.append(starts[-1] + len(w))
    seen, chars, i = set(), 0, 0
    while i < len(words) - n + 1:
        gram = joined[starts[i]:starts[i + n]]  # "".join(words[i:i + n])
        if gram in seen:
            chars, i = chars + len(gram), i + n
        else:
            seen.add(gram)
            i += 1
    return chars


def ref_repetition(f: GopherRepetition, text, lang) -> dict:
    words = words_of(text, lang)
    scale = 1 if uses_spaces(lang) else f.segmented_ngram_factor
    paragraphs, lines = re.split(r"\n{2,}", text.strip()), re.split(r"\n+", text)
    (para_dups, para_chars), (line_dups, line_chars) = _duplicates(paragraphs), _duplicates(lines)
    s = {"gopher_dup_para_frac": para_dups / len(paragraphs), "gopher_dup_para_char_frac": para_chars / len(text),
         "gopher_dup_line_frac": line_dups / len(lines), "gopher_dup_line_char_frac": line_chars / len(text)}
    for n in (2, 3, 4):
        chars = _top_ngram_chars(words, n * scale)
        s[f"gopher_top_{n}gram_char_frac"] = None if chars is None else chars / len(text)
    for n in range(5, 11):
        s[f"gopher_dup_{n}gram_char_frac"] = _repeated_ngram_chars(words, n * scale) / len(text)
    return s


def ref_gopher_quality(text, lang) -> dict:
    words = words_of(text, lang)
    content = [w for w in words if any(c not in PUNCTUATION_SET for c in w)]
    lines = text.splitlines() or [""]
    stop = stop_words_for(lang)
    per_word = (lambda count: count / len(words)) if words else (lambda count: None)
    return {
        "gopher_word_count": len(content),
        "gopher_mean_word_length": sum(len(w) for w in content) / len(content) if content and uses_spaces(lang)
        else None,
        "gopher_hash_ratio": per_word(text.count("#")),
        "gopher_ellipsis_ratio": per_word(text.count("...") + text.count("\u2026")),
        "gopher_bullet_lines_ratio": len([x for x in lines if x.lstrip()[:1] in ("\u2022", "-")]) / len(lines),
        "gopher_ellipsis_lines_ratio": len([x for x in lines if x.rstrip().endswith(("...", "\u2026"))]) / len(lines),
        "gopher_alpha_words_ratio": per_word(len([w for w in words if any(c.isalpha() for c in w)])),
        "gopher_stop_words": None if stop is None else len({w for w in words if w in stop}),
    }


_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def ref_c4(f: C4Quality, text, lang):
    """(kept text, page rule or None, signals), line by line as C4 does."""
    spaced, splitter = uses_spaces(lang), splitter_for(lang)
    ends = tuple(f.end_marks) if spaced else tuple(TERMINAL_PUNCTUATION) + ('"', "'", "\u201d", "\u300d", "\u300f")
    lines = text.splitlines()
    kept, sentences, lorem, curly, page_rule = [], 0, False, False, None
    for line in lines:
        line = line.strip()
        words = line.split()
        if f.max_word_length > 0 and any(len(w) > f.max_word_length for w in words):
            continue
        if f.remove_citations:
            line = _CITATION.sub("", line)
        if f.filter_no_terminal_punct and (not line.endswith(ends) or line.endswith("...")):
            continue
        if f.words_after_citations:
            words = line.split()
        if (len(words) if spaced else len(splitter.words(line))) < f.min_words_per_line:
            continue
        lower = line.lower()
        if f.filter_lorem_ipsum and "lorem ipsum" in lower:
            lorem, page_rule = True, page_rule or "filter_lorem_ipsum"
        if f.filter_javascript and "javascript" in lower:
            continue
        if f.filter_curly_bracket and "{" in line:
            curly, page_rule = True, page_rule or "filter_curly_bracket"
        if f.filter_policy and any(p in lower for p in _POLICY):
            continue
        sentences += splitter.sentence_count(line)
        kept.append(line)
    return "\n".join(kept).strip(), page_rule, {"c4_lines": len(lines), "c4_lines_kept": len(kept),
                                                "c4_sentences": sentences, "c4_lorem_ipsum": lorem,
                                                "c4_curly_bracket": curly}


def ref_fineweb(f: FineWebQuality, text, lang) -> dict:
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return {}
    short = f.short_line_length if uses_spaces(lang) else f.short_line_length_cjk
    chars = len(text.replace("\n", ""))
    words = words_of(text, lang)
    return {
        "fineweb_line_punct_ratio": len([x for x in lines if x[-1] in TERMINAL_PUNCTUATION]) / len(lines),
        "fineweb_short_line_ratio": len([x for x in lines if len(x) <= short]) / len(lines),
        "fineweb_char_dup_ratio": _duplicates(lines)[1] / chars if chars else None,
        "fineweb_newline_ratio": text.count("\n") / len(words) if words else None,
    }


def _first_drop(f, signals, rules):
    """The first rule (threshold, signal, comparison) whose threshold is set and that the signal
    breaks: (False, reason), or (True, None)."""
    for threshold, signal, op in rules:
        limit, value = getattr(f, threshold), signals.get(signal)
        if limit and value is not None and (value < limit if op == "<" else value > limit):
            return False, f"{f.name}.{threshold}"
    return True, None


_REFERENCE: dict = {}  # the tests ask for the same filter on the same text more than once


def ref_decision(f, doc) -> tuple:
    """(keep, reason, signals, text) of filter `f` on `doc`, from the references."""
    key = (repr(f), doc["text"], doc.get("lang"))
    if key not in _REFERENCE:
        _REFERENCE[key] = _ref_decision(f, doc)
    return _REFERENCE[key]


def _ref_decision(f, doc) -> tuple:
    text, lang = doc["text"], doc.get("lang")
    if isinstance(f, GopherRepetition):
        if not text:
            return False, "gopher_repetition.empty", {}, None
        s = ref_repetition(f, text, lang)
        return (*_first_drop(f, s, [(f"max_{k[len('gopher_'):]}", k, ">") for k in s]), s, None)
    if isinstance(f, GopherQuality):
        s = ref_gopher_quality(text, lang)
        rules = [("min_doc_words", "gopher_word_count", "<"), ("max_doc_words", "gopher_word_count", ">"),
                 ("min_avg_word_length", "gopher_mean_word_length", "<"),
                 ("max_avg_word_length", "gopher_mean_word_length", ">"),
                 ("max_symbol_word_ratio", "gopher_hash_ratio", ">"),
                 ("max_symbol_word_ratio", "gopher_ellipsis_ratio", ">"),
                 ("max_bullet_lines_ratio", "gopher_bullet_lines_ratio", ">"),
                 ("max_ellipsis_lines_ratio", "gopher_ellipsis_lines_ratio", ">"),
                 ("min_alpha_words_ratio", "gopher_alpha_words_ratio", "<"),
                 ("min_stop_words", "gopher_stop_words", "<")]
        return (*_first_drop(f, s, rules), s, None)
    if isinstance(f, C4Quality):
        cleaned, page_rule, s = ref_c4(f, text, lang)
        if page_rule:
            return False, f"c4.{page_rule}", s, None
        if f.min_num_sentences > 0 and s["c4_sentences"] < f.min_num_sentences:
            return False, "c4.min_num_sentences", s, None
        return True, None, s, cleaned
    if isinstance(f, FineWebQuality):
        s = ref_fineweb(f, text, lang)
        if not s:
            return False, "fineweb_quality.empty", s, None
        judged = dict(s)
        if f.line_punct_exclude_zero and s["fineweb_line_punct_ratio"] == 0:
            judged["fineweb_line_punct_ratio"] = None
        rules = [("min_line_punct_ratio", "fineweb_line_punct_ratio", "<"),
                 ("max_short_line_ratio", "fineweb_short_line_ratio", ">"),
                 ("max_char_dup_ratio", "fineweb_char_dup_ratio", ">"),
                 ("max_newline_ratio", "fineweb_newline_ratio", ">")]
        return (*_first_drop(f, judged, rules), s, None)
    raise AssertionError(f"no reference for {f!r}")


def ref_chain(chain, doc) -> tuple:
    """(keep, reason, signals, text) of a preset's chain: the first drop decides; a cleaning
    filter's text goes on to the next."""
    signals, text = {}, None
    for f in chain.filters:
        keep, reason, s, new_text = ref_decision(f, doc if text is None else {**doc, "text": text})
        signals.update(s)
        if not keep:
            return False, reason, signals, text
        text = new_text if new_text is not None else text
    return True, None, signals, text


def ref_normalise(text: str) -> str:
    text = ftfy.fix_text(text, _FTFY)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub("[\u00a0\u1680\u2000-\u200a\u202f\u205f]", " ", text)
    text = re.sub("[\u200b\u2060\ufeff]", "", text)
    text = re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n").rstrip()


def ref_pii(r: PiiRedactor, text, lang) -> tuple[str, dict]:
    """Every e-mail and every public IPv4 address replaced, wherever they are; phone numbers where
    the redactor's cheap evidence for them (seven digits close together) is found."""
    counts = Counter(pii_emails=0, pii_ips=0, pii_phones=0)

    def pick(options, matched):
        return options[xxhash.xxh64_intdigest(matched.encode()) % len(options)]

    def email(m):
        counts["pii_emails"] += 1
        return pick(r.email_replacements, m.group())

    def ip(m):
        try:
            public = ipaddress.ip_address(m.group()).is_global
        except ValueError:
            return m.group()
        if not public:
            return m.group()
        counts["pii_ips"] += 1
        return pick(r.ip_replacements, m.group())

    text = _IPV4.sub(ip, _EMAIL.sub(email, text))
    if _MAYBE_PHONE.search(text):
        spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(
            text, r.regions.get(lang) or "ZZ", leniency=phonenumbers.Leniency.VALID)]
        for start, end in reversed(spans):
            text = text[:start] + r.phone_replacement + text[end:]
        counts["pii_phones"] += len(spans)
    return text, dict(counts)


# ---------------------------------------------------------------------------------------------
# The filters against the references

@pytest.mark.parametrize("preset", ["fineweb", "gopher", "gopher-technical", "c4-tfds", "c4-datatrove"])
def test_presets_decide_as_the_rules_say(preset, docs):
    chain = load_preset(preset)[1]
    kept = 0
    for doc in docs:
        d = chain(doc)
        assert (d.keep, d.reason, d.signals, d.text) == ref_chain(chain, doc), (preset, doc["lang"], doc["text"][:200])
        kept += d.keep
    assert 0 < kept < len(docs)  # the texts are varied enough to keep some and drop some


def test_each_filter_measures_every_text(docs):
    """Each filter alone, so that every signal is compared on every text (in a chain the first
    drop leaves the later filters' signals out)."""
    filters = [GopherRepetition(), GopherQuality(), C4Quality(), C4Quality(filter_no_terminal_punct=False),
               FineWebQuality(), FineWebQuality(line_punct_exclude_zero=True)]
    for doc in docs:
        for f in filters:
            d = f(doc)
            assert (d.keep, d.reason, d.signals, d.text) == ref_decision(f, doc), (f.name, doc["text"][:200])


def test_sentence_counts_of_reduced_lines(docs):
    """c4.sentence_count's reduced lines count as the splitter counts the lines themselves."""
    lines = [line for doc in docs[::2] if uses_spaces(doc["lang"]) for line in doc["text"].splitlines()][:4000]
    lines += [" " + x for x in lines[:200]] + ["  \t " + x + " \t" for x in lines[200:400]]
    rnd = random.Random(3)
    pieces = ["a", "word", "Mr.", "U.S.", "end.", "dog,", "(see", "it's", "--", "-", "\u2014", ".", "!?", "\u2026",
              "e.g.", "3.14", "__", "_x", "x_", "\"quoted\"", "'", "\u00bf", "\u3002", "(", ")", "a.b", "#1"]
    lines += ["".join(rnd.choice(pieces) + rnd.choice([" ", " ", "  ", "\t", ""]) for _ in range(rnd.randint(0, 14)))
              for _ in range(2000)]
    for lang in ("en", "de"):
        splitter = splitter_for(lang)
        for line in lines:
            assert c4_module.sentence_count(splitter, line) == splitter.sentence_count(line), (lang, line)


def test_ngram_rules_on_small_vocabularies():
    """Top and repeated n-grams over words drawn from a few short strings: most n-grams repeat, and
    many are equal joined without spaces while their words differ."""
    rnd = random.Random(7)
    for trial in range(300):
        vocabulary = rnd.sample(["a", "b", "ab", "ba", "aab", "c", "", "\U0001d518", "the", "é"], rnd.randint(1, 6))
        words = [rnd.choice(vocabulary) for _ in range(rnd.randint(0, 300))]
        windows = _WordWindows(words)
        for n in range(1, 21):
            assert top_ngram_chars(windows, n) == _top_ngram_chars(words, n), (trial, n)
        windows = _WordWindows(words)
        for n in range(1, 21):
            assert repeated_ngram_chars(windows, n) == _repeated_ngram_chars(words, n), (trial, n)
        # the compiled loop, with the n in rising order and in any order
        ns = tuple(range(1, 21)) if trial % 2 else tuple(rnd.sample(range(1, 21), 20))
        assert ngram_chars(words, ns, ns) == (tuple(_top_ngram_chars(words, n) for n in ns),
                                             tuple(_repeated_ngram_chars(words, n) for n in ns)), trial


def test_the_compiled_ngram_loop_is_built():
    assert gopher_repetition._compiled_ngram_chars is not None  # else numpy answers every text


def _plain_hash(word: str) -> int:
    h = 0
    for ch in word:
        h = (h * int(text_module.MULTIPLIER) + ord(ch)) % (1 << 64)
    return h


def test_word_columns(monkeypatch):
    """Per-word facts equal the per-word functions, when words are new and known, in a vocabulary
    that starts again when full, and from several threads at once."""
    monkeypatch.setattr(text_module._Vocabulary, "LIMIT", 500)
    rnd = random.Random(11)
    alphabet = "ab.,-#\u2026\u00e9\u4e2d\U0001d518\ud800_1"

    def check(words):
        cols = word_columns(words)
        assert cols.lengths.tolist() == [len(w) for w in words]
        assert cols.symbol.tolist() == [all(c in PUNCTUATION_SET for c in w) for w in words]
        assert cols.alpha.tolist() == [any(c.isalpha() for c in w) for w in words]
        assert cols.hashes.tolist() == [_plain_hash(w) for w in words]
        assert cols.powers.tolist() == [pow(int(text_module.MULTIPLIER), len(w), 1 << 64) for w in words]
        known = {}
        for w, i in zip(words, cols.ids.tolist()):  # one id per word in a list
            assert known.setdefault(w, i) == i
        assert len(set(known.values())) == len(known)

    lists = [["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 9))) for _ in range(rnd.randint(0, 200))]
             for _ in range(60)]
    for words in lists + lists:
        check(words)
    failures = []

    def work(part):
        try:
            for words in part:
                check(list(words))
        except AssertionError as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(lists[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_normalise_as_ftfy_and_the_white_space_rules(raw_texts):
    for text in raw_texts:
        assert normalise_text(text) == ref_normalise(text), text[:200]


def test_mojibake_search_near_non_ascii_only(raw_texts):
    """normalise's is_bad looks only near characters outside ASCII; ftfy's looks everywhere."""
    rnd = random.Random(5)
    odd = "aZ .,\n \u00c3\u00c2\u00a9\u20ac\u0153\u00b0\u00d8\u00d9\u00b2\u00b3\u00d7\u0412\u0413\u0420\u0421\u0402" \
          "\u03b2\u0101\u0392\u0393\u039e\u039f\u221a\u00b1\u2248\u201a\u00c4\u00e2\u00f3\u00a2\u0178\u0160\u00ae" \
          "\u00b5\u00bb\u00a0\x85\x9a\u2502\u250c\u2588\u00eb\u00e9\u00e8\u00e0\u00c9\u00bc\u00bd\u00ab\u201c\u201d" \
          "\u2018\u2019\u2013\u2014\u2026"
    texts = list(raw_texts)
    for _ in range(6000):
        texts.append("".join(rnd.choice(odd) for _ in range(rnd.randint(0, 16))))
        host = rnd.choice(raw_texts)
        i = rnd.randrange(len(host) + 1)
        texts.append(host[max(0, i - 40):i] + "".join(rnd.choice(odd) for _ in range(rnd.randint(1, 4)))
                     + "a" * rnd.randint(0, 8) + host[i:i + 40])
    found = 0
    for text in texts:
        assert _is_bad(text) == is_bad(text), text
        found += is_bad(text)
    assert 1000 < found < len(texts) - 1000


def test_pii_as_the_patterns_say(raw_texts):
    redactor = PiiRedactor()
    extra = ["IP 1.2.3.4 and 300.1.1.1 and 8.8.8.8.8 and 01.02.03.04 and x@y.z", "no digits here at all",
             "8.8.8.8", "at 9.9.9.9.", "1.2", "3.14 and 2.71 only", "\uff18.\uff18.\uff18.\uff18 full-width digits",
             "\u0661.\u0662.\u0663.\u0664", "mail me@example.com", "@@@"]
    for text in raw_texts + extra:
        assert redactor.redact(text, "en") == ref_pii(redactor, text, "en"), text[:200]


def test_compiled_and_python_word_facts_agree():
    """Every punctuation and terminal character (some beyond the BMP), letters of several scripts,
    digits, marks, surrogates and the empty word, mixed."""
    assert text_module._compiled_word_facts is not None  # else numpy and Python work out every word
    rnd = random.Random(5)
    alphabet = sorted(PUNCTUATION_SET) + list("abzAZ09\u00e9\u0301\u4e2d\u0416\U0001d518\ud800\u3002 \t")
    words = ["", "a", ".", "\u2026", "\U0001d518"] + ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 12)))
                                                       for _ in range(20000)]
    compiled, python = text_module.word_facts(words), text_module.word_facts(words, compiled=False)
    for a, b in zip(compiled, python):
        assert a.dtype == b.dtype and a.tolist() == b.tolist()
    assert compiled[1].any() and not compiled[1].all() and compiled[2].any() and not compiled[2].all()
