"""Word and sentence splitting, chosen per language.

Space-delimited languages use spaCy's rule-based tokenizer (the one datatrove's filters use), made
fast without changing a single token: spaCy splits text on white space first and tokenizes each
piece on its own, so each distinct piece is tokenized once and remembered. Words are the
non-white-space tokens, as datatrove's `word_tokenize`; sentences follow spaCy's Sentencizer rule.

Languages written without spaces use a segmenter: jieba for Chinese, SudachiPy for Japanese and
PyThaiNLP for Thai. Their sentences end at Unicode sentence terminals.

Splitters are made lazily, once per process (`splitter_for`), so filters stay cheap to pickle, and
are safe to share between a worker's threads.
"""

import re
import threading
import unicodedata
from functools import lru_cache

from filters.text import TERMINAL_PUNCTUATION

SEGMENTED_LANGUAGES = ("zh", "ja", "th")
_RUNS = re.compile(r"\S+|\s+")
_MAX_CACHE = 2_000_000  # distinct white-space-delimited pieces remembered per language


def _is_punct(token: str) -> bool:
    """spaCy's `is_punct`: every character is Unicode punctuation."""
    return all(unicodedata.category(ch).startswith("P") for ch in token)


class SpacySplitter:
    def __init__(self, lang: str):
        import spacy
        from spacy.pipeline.sentencizer import Sentencizer

        try:
            self._nlp = spacy.blank(lang)
        except (ImportError, KeyError, ValueError):  # no rules for this language: spaCy's multilingual ones
            self._nlp = spacy.blank("xx")
        self._punct_chars = frozenset(Sentencizer.default_punct_chars)
        self._lock = threading.Lock()  # spaCy's memory zones are not for concurrent use
        # piece -> (tokens, sentencizer transitions from "no period seen" and from "period seen")
        self._cache: dict[str, tuple] = {}

    def _piece(self, piece: str) -> tuple:
        entry = self._cache.get(piece)
        while entry is None:  # another thread may clear the cache between learning and reading
            self._learn([piece])
            entry = self._cache.get(piece)
        return entry

    def _learn(self, pieces: list[str]) -> None:
        """Tokenize new pieces in one spaCy call (they are separated by single spaces, which spaCy
        splits on before anything else) and remember each piece's tokens."""
        with self._lock:
            self._learn_locked(pieces)

    def _learn_locked(self, pieces: list[str]) -> None:
        if len(self._cache) + len(pieces) >= _MAX_CACHE:
            self._cache.clear()
        starts, position = [], 0
        for piece in pieces:
            starts.append(position)
            position += len(piece) + 1
        tokens_of: list[list[str]] = [[] for _ in pieces]
        index = 0
        # The memory zone frees the lexemes spaCy creates for new strings, which would otherwise
        # accumulate in its vocabulary for the life of the worker.
        with self._nlp.memory_zone():
            for token in self._nlp.tokenizer(" ".join(pieces)):
                while index + 1 < len(starts) and token.idx >= starts[index + 1]:
                    index += 1
                tokens_of[index].append(token.text)
        for piece, tokens in zip(pieces, tokens_of):
            tokens = tuple(tokens)
            self._cache[piece] = (tokens, self._transition(tokens, False), self._transition(tokens, True))

    def _transition(self, tokens, seen_period: bool) -> tuple[int, bool]:
        """spaCy's Sentencizer over these tokens: (sentence starts added, period seen after)."""
        added = 0
        for token in tokens:
            in_punct_chars = token in self._punct_chars
            if seen_period and not in_punct_chars and not _is_punct(token):
                added, seen_period = added + 1, False
            elif in_punct_chars:
                seen_period = True
        return added, seen_period

    def words(self, text: str) -> list[str]:
        pieces = text.split()
        cache = self._cache
        new = [p for p in dict.fromkeys(pieces) if p not in cache]
        if new:
            self._learn(new)  # one spaCy call for all of this text's new pieces
        out: list[str] = []
        for piece in pieces:
            out.extend((cache.get(piece) or self._piece(piece))[0])
        return out

    def sentence_count(self, text: str) -> int:
        """Sentences as spaCy's Sentencizer counts them: the first token starts one, and after a
        token in its punctuation list the next token that is not punctuation starts the next.
        White space other than one space between tokens is a token too, as in spaCy."""
        count, seen_period, first = 0, False, True
        for match in _RUNS.finditer(text):
            run = match.group()
            if run[0].isspace():
                if run == " " and not first:
                    continue
                added, seen_period = (1, False) if seen_period else (0, False)  # a white-space token
            else:
                _, if_not_seen, if_seen = self._piece(run)
                added, seen_period = if_seen if seen_period else if_not_seen
            count += added + first
            first = False
        return count


class SegmenterSplitter:
    """Words from a segmenter; sentences end at Unicode sentence terminals."""

    def __init__(self, lang: str):
        self.lang = lang
        self._lock = threading.Lock()  # segmenter objects are not thread-safe
        if lang == "zh":
            import jieba

            jieba.setLogLevel(60)
            self._cut = lambda text: jieba.lcut(text)
        elif lang == "ja":
            from sudachipy import Dictionary, SplitMode

            tokenizer = Dictionary(dict="core").create()
            self._cut = lambda text: [m.surface() for m in tokenizer.tokenize(text, SplitMode.C)]
        elif lang == "th":
            from pythainlp.tokenize import word_tokenize

            self._cut = lambda text: word_tokenize(text, keep_whitespace=False, engine="newmm-safe")
        else:
            raise ValueError(f"no segmenter for {lang!r}")

    def words(self, text: str) -> list[str]:
        out = []
        with self._lock:
            for line in text.splitlines():  # segmenters are given lines, keeping inputs short
                out.extend(w.strip() for w in self._cut(line) if w.strip())
        return out

    def sentence_count(self, text: str) -> int:
        count, in_sentence = 0, False
        for ch in text:
            if ch in TERMINAL_PUNCTUATION:
                in_sentence = False
            elif not ch.isspace() and not in_sentence:
                count, in_sentence = count + 1, True
        return count


@lru_cache(maxsize=8)
def words_of(text: str, lang: str | None) -> list[str]:
    """The words of a text; the filters of one chain ask for the same text's words in turn.
    Callers must not change the list."""
    return splitter_for(lang).words(text)


@lru_cache(maxsize=None)
def splitter_for(lang: str | None):
    """The word splitter for a lid.176 language code (English rules when unknown)."""
    if lang in SEGMENTED_LANGUAGES:
        return SegmenterSplitter(lang)
    return SpacySplitter(lang or "en")


def uses_spaces(lang: str | None) -> bool:
    return lang not in SEGMENTED_LANGUAGES
