"""The compiled English word splitter (filters/spacy_rules.py) against spaCy, its reference.

Whole texts (Wikipedia, Gutenberg, web pages, an adversarial list, random pieces) must give exactly
spaCy's tokens; each shortcut that skips one of spaCy's regular expressions must answer as that
expression does wherever it is taken.
"""

import bz2
import gzip
import itertools
import json
import random
import string
from concurrent.futures import ThreadPoolExecutor

import pytest
import spacy

from filters import words
from filters.words import SpacySplitter
from filters.spacy_rules import (_AFFIXED, _ASCII_INFIXES, _MAYBE_URL, _NUMBER, _ONE_CHAR_PREFIXES,
                           _ONE_CHAR_SUFFIXES, PieceSplitter)
from pipelines.sources.wikipedia import wikitext_to_text

ADVERSARIAL = [
    "https://example.com/a_b?x=1&y=2#frag", "http://www.bbc.co.uk/news.", "(see www.python.org/doc).",
    "mail me at jane.doe+list@example.org, or <bob@x.io>.", "ftp://1.2.3.4:21/pub", "192.168.0.1", "10.0.0.1.",
    ":) :-( ;) :D xD XD :P (: <3 </3 ^_^ (^_^) (-_-) o.O ._. :'( =) D: (:", "(ಠ_ಠ) ¯\\_(ツ)_/¯",
    "don't can't won't I'm you're he's she'd they'll we've y'all ain't cannot gonna gotta dont cant Im id",
    "Don't DON'T isn't Isn't o'clock rock'n'roll ma'am 'em 'tis 'cause nothin' goin'",
    "don’t can’t I’m it’s the dog’s bone the dogs’ bones ’90s",
    "U.S. U.S.A. U.K. e.g. i.e. etc. vs. Mr. Mrs. Dr. Ph.D. a.m. p.m. 5p.m. 10a.m. Jan. Sept. Calif.",
    "Mr.Smith e.g.,the etc.) (etc.) U.S.-based A. B. C. Ala. la. No. no. St. st.",
    "1,000.50 $5 $5.00 US$5 C$10 A$3 €20 £3.50 ¥100 5% 50%. -5 +5 +44 5+3 2-3 3*4 2^8 1/2 3.14159 1e-5",
    "5km 10kg 3mbar 2.5m/s 100km/h 5mph 20°C 20°C. 98.6°F 4GB 512MB 30cm² 12in 6ft",
    "10:30 10:30am 10:30 p.m. 2024-01-31 31/01/2024 01.31.2024 1990s '90s 3rd 21st 4th",
    "well-known state-of-the-art co-op re-enter x-ray e-mail -hyphen hyphen- --double-- a--b a—b a–b a~b",
    "\"quoted\" 'single' “curly” ‘curly’ «guillemets» „low“ `back` ''double'' \"nested 'quotes'\"",
    "(brackets) [square] {curly} <angle> ((double)) [a](b) f(x) f(x, y) arr[0] {k: v} a<b a>b a=b a/b",
    "Wait... what?! Really?? No!!! …ellipsis… .hidden ..dots.. ... …… end.",
    "snake_case CamelCase kebab-case SCREAMING_CASE __init__ _private x86 i386 utf-8 v2.0.1 3.11.4",
    "#hashtag @mention *bold* **strong** _em_ ~strike~ |pipe| a|b \\back\\slash",
    "naïve café résumé coöperate Zürich São Paulo Øresund Łódź İstanbul straße ÆON",
    "Ελληνικά Русский текст, «цитата». العربية עברית हिन्दी 中文，标点。 日本語の文章。 한국어",
    "x² m³ ½ ¼ ¾ Ⅻ ① № ™ © ® ° § ¶ † ‡ • · – — ‒ ― ‐ ‑ ′ ″ ‹ › ✓ ★ → ← ⇒ ∞ ≤ ≥ ≠ ± × ÷",
    "end.The start.\"Quoted\" word.(paren) one,two three;four five:six a.b A.B a.B",
    "it's. don't, (don't) \"don't\" etc., etc.; U.S., (U.S.) ok.) :-), (:",
    "x-a. x-b. 1a.m. b''. E''. Mode''. methods): (in): vmode:x",
]


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


@pytest.fixture(scope="module")
def real_texts(data_dir):
    raw = bz2.decompress(next((data_dir / "enwiki_xml_dump_sample").glob("*.bz2")).read_bytes()).decode()
    texts = [wikitext_to_text(page.split("</text>")[0]) for page in raw.split('<text xml:space="preserve">')[1:80]]
    for name in ("84-0.txt", "1342-0.txt", "11-0.txt"):
        book = (data_dir / "gutenberg_en" / name).read_text(encoding="utf-8-sig")
        texts += [book[i:i + 8000] for i in range(0, 120_000, 8000)]
    for path in sorted((data_dir / "ccnet_jsonl_dolma").glob("*.jsonl.gz")):
        texts += [json.loads(line)["text"] for line in gzip.open(path, "rt", encoding="utf-8")]
    with open(data_dir / "dclm_human_quality_labels" / "agreement_data.jsonl", encoding="utf-8") as fh:
        texts += [json.loads(line)["text"] for line in itertools.islice(fh, 120)]
    return [t for t in texts if t.strip()]


def spacy_words(nlp, text: str) -> list[str]:
    return [t.text.strip() for t in nlp(text) if t.text.strip()]


def spacy_piece(nlp, piece: str) -> tuple[str, ...]:
    return tuple(t.text for t in nlp.tokenizer(piece))


def assert_pieces_agree(nlp, splitter: PieceSplitter, pieces) -> int:
    """Every piece has spaCy's tokens (spaCy given the piece alone); returns how many the
    special-case matcher changed."""
    matched = 0
    for piece in pieces:
        tokens, ends = splitter.split(piece)
        assert tuple(tokens) == spacy_piece(nlp, piece), piece
        matched += ends is not None
    return matched


def test_english_rules_are_the_ones_the_shortcuts_were_derived_from(nlp):
    # Fails after a spaCy upgrade that changes the rules: the splitter then leaves all to spaCy
    # (still right, only slow) until the shortcuts are checked again and the digest updated.
    assert PieceSplitter.for_tokenizer(nlp.tokenizer) is not None
    assert SpacySplitter("en")._split is not None
    assert SpacySplitter("de")._split is None and SpacySplitter("fr")._split is None


def test_real_text_is_split_as_spacy_splits_it(nlp, real_texts):
    ours = SpacySplitter("en")
    for text in real_texts:
        assert ours.words(text) == spacy_words(nlp, text)


def test_pieces_of_real_text(nlp, real_texts):
    pieces = list(dict.fromkeys(p for text in real_texts for p in text.split()))
    assert_pieces_agree(nlp, PieceSplitter(nlp.tokenizer), pieces)


def test_special_case_matcher(nlp):
    """Pieces glued together from special cases (emoticons, abbreviations, contractions), where
    the matcher pass finds patterns, overlapping ones among them; then side by side, where it also
    matches across the space between two pieces. Each text is split twice: with its pieces new,
    and with them remembered (where the words come from the compiled loop alone)."""
    rng = random.Random(3)
    specials = [text for text in nlp.tokenizer.rules if not any(ch.isspace() for ch in text)]
    glue = ["(", ")", "'", "''", "-", ".", ":", ";", "x", "a", "'s", ",", '"', "’", "8", "D"]
    pieces = sorted({"".join(rng.choice(specials) if rng.random() < 0.5 else rng.choice(glue)
                             for _ in range(rng.randint(2, 5))) for _ in range(20_000)})
    assert assert_pieces_agree(nlp, PieceSplitter(nlp.tokenizer), pieces) > 1000
    ours = SpacySplitter("en")
    for start in range(0, len(pieces), 500):
        rng.shuffle(chunk := pieces[start:start + 500])
        text = "".join(piece + rng.choice([" ", " ", " ", "\n", "  "]) for piece in chunk)
        expected = spacy_words(nlp, text)
        assert ours.words(text) == expected
        assert ours.words(text) == expected


def test_adversarial_text(nlp):
    ours = SpacySplitter("en")
    for line in ADVERSARIAL:
        assert ours.words(line) == spacy_words(nlp, line), line
    text = "\n".join(ADVERSARIAL)
    assert ours.words(text) == spacy_words(nlp, text)
    assert_pieces_agree(nlp, PieceSplitter(nlp.tokenizer), {p for line in ADVERSARIAL for p in line.split()})


def test_random_pieces(nlp):
    """Pieces built from the characters the rules care about, most of them ASCII."""
    rng = random.Random(1234)
    alphabet = (string.ascii_letters + string.digits + string.punctuation * 3 + "’‘“”…—–°²€£¥§ßéÉçÇßñ"
                + "aeiouAEIOU" * 2 + "sSmkgtT" * 2)
    words = ["the", "US", "C", "A", "km", "s", "don", "t", "etc", "e.g", "Mr", "a", "x", "id", "cannot"]
    pieces = set()
    for _ in range(30_000):
        parts = [rng.choice(words) if rng.random() < 0.3 else rng.choice(alphabet)
                 for _ in range(rng.randint(1, 7))]
        pieces.add("".join(parts))
    splitter = PieceSplitter(nlp.tokenizer)
    assert_pieces_agree(nlp, splitter, sorted(pieces))
    text = " ".join(sorted(pieces))
    assert SpacySplitter("en").words(text) == spacy_words(nlp, text)


def test_letters_are_never_an_affix_or_infix(nlp):
    tokenizer = nlp.tokenizer
    for ch in map(chr, range(0x110000)):
        if ch.isalpha():
            assert not (tokenizer.prefix_search(ch + "a") or tokenizer.suffix_search("a" + ch)
                        or list(tokenizer.infix_finditer("a" + ch + "a"))
                        or list(tokenizer.infix_finditer("A" + ch + "A"))), hex(ord(ch))


CONTEXT = string.ascii_letters + string.digits + string.punctuation + "’°"


def test_one_character_affixes(nlp):
    tokenizer = nlp.tokenizer
    for ch in _ONE_CHAR_PREFIXES:
        for tail in itertools.chain([""], CONTEXT, map("".join, itertools.product(CONTEXT, repeat=2))):
            assert tokenizer.find_prefix(ch + tail) == 1, ch + tail
    for ch in _ONE_CHAR_SUFFIXES:
        for head in itertools.chain([""], CONTEXT, map("".join, itertools.product(CONTEXT, repeat=2))):
            assert tokenizer.find_suffix(head + ch) == 1, head + ch


def test_affix_shortcuts_answer_as_the_regexes(nlp):
    tokenizer, splitter = nlp.tokenizer, PieceSplitter(nlp.tokenizer)
    small = "aszkmgtAUCSK09.'’\"(),$%°+-_"
    strings = ["".join(p) for n in range(1, 5) for p in itertools.product(small, repeat=n)]
    rng = random.Random(5)
    strings += ["".join(rng.choices(CONTEXT, k=rng.randint(1, 14))) for _ in range(50_000)]
    for s in strings:
        assert splitter._prefix_len(s) == tokenizer.find_prefix(s), s
        assert splitter._suffix_len(s) == tokenizer.find_suffix(s), s


def test_ascii_infixes_are_the_infix_rules_on_ascii(nlp):
    rng = random.Random(7)
    small = "aAzZ09.,-~:/<>=+*^'\"`_"
    strings = ["".join(p) for n in range(1, 5) for p in itertools.product(small, repeat=n)]
    strings += ["".join(rng.choices(string.printable[:94], k=rng.randint(1, 20))) for _ in range(50_000)]
    for s in strings:
        theirs = [m.span() for m in nlp.tokenizer.infix_finditer(s)]
        assert [m.span() for m in _ASCII_INFIXES.finditer(s)] == theirs, s


def test_affixed_core_has_no_affix_of_its_own(nlp):
    tokenizer = nlp.tokenizer
    rng = random.Random(11)
    small = "aszkmAUCS09$'._-"
    strings = ["".join(p) for n in range(1, 6) for p in itertools.product(small, repeat=n)]
    strings += ["".join(rng.choices(string.printable[:94], k=rng.randint(1, 12))) for _ in range(30_000)]
    for s in strings:
        match = _AFFIXED.fullmatch(s)
        if match:
            core = match.group(2)
            assert not tokenizer.find_prefix(core) and not tokenizer.find_suffix(core), s


def test_numbers_are_one_token(nlp):
    rng = random.Random(17)
    for _ in range(5_000):
        number = rng.choice(string.digits) + "".join(
            rng.choice([".", ",", ""]) + "".join(rng.choices(string.digits, k=rng.randint(1, 4)))
            for _ in range(rng.randint(0, 4)))
        assert _NUMBER.fullmatch(number) and spacy_piece(nlp, number) == (number,), number


def test_what_every_ascii_url_has(nlp):
    rng = random.Random(13)
    hosts = ["example.com", "www.bbc.co.uk", "1.2.3.4", "10.0.0.1", "x.io", "a.b", "9.99", "localhost", "A.COM"]
    texts = [rng.choice(["", "http://", "https://", "ftp://", "user@", "mailto:a@"]) + rng.choice(hosts)
             + rng.choice(["", "/", "/a_b?x=1", ":8080", "#top", ".", "/x.html"]) for _ in range(5_000)]
    texts += ["".join(rng.choices("ab.:/@-019X", k=rng.randint(1, 12))) for _ in range(50_000)]
    for text in texts:
        if nlp.tokenizer.url_match(text):
            assert "." in text and _MAYBE_URL.search(text), text


def test_other_languages_keep_spacy(data_dir):
    for lang, name in (("de", "de"), ("es", "es"), ("ru", "ru")):
        nlp = spacy.blank(lang)
        ours = SpacySplitter(lang)
        for path in sorted((data_dir / "fortunes_multilingual" / name).glob("*"))[:3]:
            text = path.read_text(encoding="utf-8", errors="replace")[:20_000]
            assert ours.words(text) == spacy_words(nlp, text)


def test_a_full_cache_starts_again(nlp, real_texts, monkeypatch):
    monkeypatch.setattr(words, "_MAX_CACHE", 200)
    ours = SpacySplitter("en")
    texts = real_texts[:20] + real_texts[:5]
    for text in texts:
        assert ours.words(text) == spacy_words(nlp, text)
    longest = max(len(set(text.split())) for text in texts)
    assert len(ours._tokens) < 200 + longest


def test_threads_share_a_splitter(nlp, real_texts, monkeypatch):
    """Words stay right while other threads learn pieces and the full cache starts again."""
    monkeypatch.setattr(words, "_MAX_CACHE", 300)
    ours = SpacySplitter("en")
    texts = real_texts[:40]
    expected = [spacy_words(nlp, text) for text in texts]

    def work(offset: int) -> bool:
        order = texts[offset:] + texts[:offset]
        return all(ours.words(text) == expected[(i + offset) % len(texts)] for i, text in enumerate(order))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(0, 40, 10)))
