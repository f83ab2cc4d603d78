"""Gopher's repetition rules (Rae et al. 2021, table A1), as datatrove's GopherRepetitionFilter
computes them.

Duplicate paragraphs (split on blank lines) and lines, by count and by characters; the characters
of the most frequent 2-, 3- and 4-gram; and the characters in repeated 5- to 10-grams (counted
without overlap). All fractions of characters are over the whole text. The line and paragraph rules
need no words and apply to every script. The n-gram rules use the language's words
(filters.words); a segmenter's word of Chinese, Japanese or Thai is about half an English word
(particles and suffixes are words of their own), so for those languages each n-gram spans
`segmented_ngram_factor` times as many words. Without it, the UDHR in Japanese, which repeats no
more than the English one, reads as repetitive (repeated 5-gram characters 0.15 against 0.06).
"""

import re
from collections import Counter
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

from filters.base import Decision
from filters.rules import check
from filters.text import MULTIPLIER, word_columns
from filters.words import uses_spaces, words_of

try:
    from filters._repetition import ngram_chars as _compiled_ngram_chars
except ImportError:  # built without a C compiler: the numpy path below gives the same answers
    _compiled_ngram_chars = None

# Written to start with a plain newline: re then jumps from newline to newline, where "\n{2,}" and
# "\n+" try the pattern at every character (15 to 25 times slower on web text).
_PARAGRAPHS = re.compile("\n\n+")
_LINES = re.compile("\n\n*")
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)


def duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated items, their characters): every occurrence after the first counts."""
    distinct = set(items)  # the first occurrences
    return len(items) - len(distinct), sum(map(len, items)) - sum(map(len, distinct))


class _WordWindows:
    """A text's word n-grams as 64-bit polynomial hashes, built with numpy.

    Two families: over word ids, for the top n-grams (words joined by spaces: tokens hold no spaces,
    so equal strings are equal word tuples); and over the characters of the words joined without
    spaces, for the repeated n-grams, which is how datatrove compares those (so "ab c" and "a bc"
    are the same 2-gram to it, and here). Two different n-grams share a hash with probability
    about 2**-64."""

    def __init__(self, words: list[str]):
        columns = word_columns(words)
        self.ids = columns.ids.astype(np.uint64)
        self.char_hashes = columns.hashes
        self.char_powers = columns.powers
        self.prefix = [0] + np.cumsum(columns.lengths).tolist()  # characters before each word
        self._by_id, self._n_by_id = self.ids, 1
        self._by_chars, self._n_by_chars = self.char_hashes, 1

    # uint64 arrays wrap mod 2**64 without a warning (numpy warns for scalars only)
    def by_words(self, n: int) -> np.ndarray:
        """Hashes of the n-grams as word tuples, at every start position (n never decreases)."""
        for k in range(self._n_by_id, n):
            self._by_id = self._by_id[:-1] * MULTIPLIER + self.ids[k:]
        self._n_by_id = max(n, self._n_by_id)
        return self._by_id

    def by_characters(self, n: int) -> np.ndarray:
        """Hashes of the n-grams' words joined without spaces (n never decreases)."""
        for k in range(self._n_by_chars, n):
            self._by_chars = self._by_chars[:-1] * self.char_powers[k:] + self.char_hashes[k:]
        self._n_by_chars = max(n, self._n_by_chars)
        return self._by_chars

    def chars(self, start: int, n: int) -> int:
        """Characters of the n-gram at `start` (without separators)."""
        return self.prefix[start + n] - self.prefix[start]


def _maybe_repeated(hashes: np.ndarray) -> np.ndarray:
    """The positions whose hash may occur at another position too, in order: those whose bucket
    (the hash's top bits, 16 to 32 buckets a hash) holds another hash. Every other position's hash
    occurs once. This spares a sort; the few positions that share a bucket by chance do no harm."""
    buckets = (hashes >> np.uint64(64 - (16 * len(hashes)).bit_length())).view(np.int64)
    return (np.bincount(buckets)[buckets] > 1).nonzero()[0]


def top_ngram_chars(windows: _WordWindows, n: int) -> int | None:
    """Characters of the most frequent n-gram (words joined by spaces) times its count; the first
    seen wins a tie, as datatrove's Counter.most_common does."""
    hashes = windows.by_words(n)
    if not len(hashes):
        return None
    start, best = 0, 1  # when no n-gram repeats, the first is the most frequent
    candidates = _maybe_repeated(hashes)
    if candidates.size:
        values = hashes[candidates].tolist()
        value, count = max(Counter(values).items(), key=itemgetter(1))  # the first seen of the most frequent
        if count > 1:
            start, best = int(candidates[values.index(value)]), count
    return (windows.chars(start, n) + n - 1) * best


def repeated_ngram_chars(windows: _WordWindows, n: int) -> int:
    """Characters in n-grams seen before; a repeat skips its n words (datatrove's rule).

    datatrove walks every position; this visits only the positions whose n-gram may occur twice,
    with the same outcome: an n-gram that occurs once is never a repeat and never seen again, so
    whether its position is visited changes nothing."""
    hashes = windows.by_characters(n)
    candidates = _maybe_repeated(hashes)
    if not candidates.size:  # nothing repeats: decided in numpy
        return 0
    seen: set[int] = set()
    chars, next_visit = 0, 0  # a repeat at p hides the positions before p + n
    for position, value in zip(candidates.tolist(), hashes[candidates].tolist()):
        if position < next_visit:
            continue
        if value in seen:
            chars += windows.chars(position, n)
            next_visit = position + n
        else:
            seen.add(value)
    return chars


def ngram_chars(words: list[str], top: tuple[int, ...], dup: tuple[int, ...],
                compiled: bool = True) -> tuple[tuple, tuple]:
    """(top_ngram_chars for each n in `top`, repeated_ngram_chars for each n in `dup`): by the
    compiled loop (filters/_repetition.c) where it is built, else with numpy; the same answers."""
    if compiled and _compiled_ngram_chars is not None:
        c = word_columns(words)
        return _compiled_ngram_chars(c.ids, c.hashes, c.powers, c.lengths, top, dup, int(MULTIPLIER))
    windows = _WordWindows(words)
    return (tuple(top_ngram_chars(windows, n) for n in top),
            tuple(repeated_ngram_chars(windows, n) for n in dup))


@dataclass
class GopherRepetition:
    max_dup_para_frac: float = 0.3
    max_dup_para_char_frac: float = 0.2
    max_dup_line_frac: float = 0.3
    max_dup_line_char_frac: float = 0.2
    max_top_2gram_char_frac: float = 0.2
    max_top_3gram_char_frac: float = 0.18
    max_top_4gram_char_frac: float = 0.16
    max_dup_5gram_char_frac: float = 0.15
    max_dup_6gram_char_frac: float = 0.14
    max_dup_7gram_char_frac: float = 0.13
    max_dup_8gram_char_frac: float = 0.12
    max_dup_9gram_char_frac: float = 0.11
    max_dup_10gram_char_frac: float = 0.10
    segmented_ngram_factor: int = 2

    name = "gopher_repetition"
    signals = ("gopher_dup_para_frac", "gopher_dup_para_char_frac", "gopher_dup_line_frac",
               "gopher_dup_line_char_frac") + tuple(f"gopher_top_{n}gram_char_frac" for n in TOP_NGRAMS) \
        + tuple(f"gopher_dup_{n}gram_char_frac" for n in DUP_NGRAMS)
    _RULES = tuple((f"max_{name[len('gopher_'):]}", name, ">") for name in signals)

    def measure(self, text: str, lang: str | None) -> dict:
        size = len(text)
        paragraphs = _PARAGRAPHS.split(text.strip())
        lines = _LINES.split(text)
        para_dups, para_chars = duplicates(paragraphs)
        line_dups, line_chars = duplicates(lines)
        scale = 1 if uses_spaces(lang) else self.segmented_ngram_factor
        tops, dups = ngram_chars(words_of(text, lang), tuple(n * scale for n in TOP_NGRAMS),
                                 tuple(n * scale for n in DUP_NGRAMS))
        signals = {
            "gopher_dup_para_frac": para_dups / len(paragraphs),
            "gopher_dup_para_char_frac": para_chars / size,
            "gopher_dup_line_frac": line_dups / len(lines),
            "gopher_dup_line_char_frac": line_chars / size,
        }
        for n, chars in zip(TOP_NGRAMS, tops):
            signals[f"gopher_top_{n}gram_char_frac"] = None if chars is None else chars / size
        for n, chars in zip(DUP_NGRAMS, dups):
            signals[f"gopher_dup_{n}gram_char_frac"] = chars / size
        return signals

    def __call__(self, doc: dict) -> Decision:
        if not doc["text"]:
            return Decision(False, f"{self.name}.empty", "no text")
        s = self.measure(doc["text"], doc.get("lang"))
        return check(self, s, self._RULES)
