"""Gopher's repetition rules (Rae et al. 2021, table A1), as datatrove's GopherRepetitionFilter
computes them.

Duplicate paragraphs (split on blank lines) and lines, by count and by characters; the characters
of the most frequent 2-, 3- and 4-gram; and the characters in repeated 5- to 10-grams (counted
without overlap). All fractions of characters are over the whole text. The line and paragraph rules
need no words and apply to every script. The n-gram rules use the language's words
(filters.tokenizers); a segmenter's word of Chinese, Japanese or Thai is about half an English word
(particles and suffixes are words of their own), so for those languages each n-gram spans
`segmented_ngram_factor` times as many words. Without it, the UDHR in Japanese, which repeats no
more than the English one, reads as repetitive (repeated 5-gram characters 0.15 against 0.06).
"""

import bisect
import re
from dataclasses import dataclass

import numpy as np

from filters.base import Decision
from filters.rules import check
from filters.tokenizers import uses_spaces, words_of

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)


def duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated items, their characters): every occurrence after the first counts."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: polynomial hashes mod 2**64
_MASK = (1 << 64) - 1


class _WordWindows:
    """A text's word n-grams as 64-bit polynomial hashes, built with numpy.

    Two families: over word ids, for the top n-grams (words joined by spaces: tokens hold no spaces,
    so equal strings are equal word tuples); and over the characters of the words joined without
    spaces, for the repeated n-grams, which is how datatrove compares those (so "ab c" and "a bc"
    are the same 2-gram to it, and here). Two different n-grams share a hash with probability
    about 2**-64."""

    _words: dict[str, tuple[int, int, int]] = {}  # word -> (id, hash of its characters, multiplier**len)

    def __init__(self, words: list[str]):
        known = self._words
        if len(known) > 5_000_000:
            known.clear()
        entries = [known.get(w) or self._add(w) for w in words]
        count = len(words)
        self.ids = np.fromiter((e[0] for e in entries), np.uint64, count)
        self.char_hashes = np.fromiter((e[1] for e in entries), np.uint64, count)
        self.char_powers = np.fromiter((e[2] for e in entries), np.uint64, count)
        self.prefix = np.concatenate(([0], np.cumsum(np.fromiter(map(len, words), np.int64, count))))
        self._by_id, self._by_chars, self._n = self.ids, self.char_hashes, 1

    @classmethod
    def _add(cls, word: str) -> tuple[int, int, int]:
        h, power, m = 0, 1, int(_MULTIPLIER)
        for ch in word:
            h = (h * m + ord(ch)) & _MASK
            power = (power * m) & _MASK
        entry = cls._words[word] = (len(cls._words) + 1, h, power)
        return entry

    def _extend(self, n: int) -> None:
        with np.errstate(over="ignore"):
            while self._n < n:
                k = self._n
                self._by_id = self._by_id[:-1] * _MULTIPLIER + self.ids[k:]
                self._by_chars = self._by_chars[:-1] * self.char_powers[k:] + self.char_hashes[k:]
                self._n += 1

    def by_words(self, n: int) -> np.ndarray:
        """Hashes of the n-grams as word tuples, at every start position (n never decreases)."""
        self._extend(n)
        return self._by_id

    def by_characters(self, n: int) -> np.ndarray:
        """Hashes of the n-grams' words joined without spaces."""
        self._extend(n)
        return self._by_chars

    def chars(self, start, n: int):
        """Characters of the n-grams at `start` (without separators)."""
        return self.prefix[start + n] - self.prefix[start]


def top_ngram_chars(windows: _WordWindows, n: int) -> int | None:
    """Characters of the most frequent n-gram (words joined by spaces) times its count; the first
    seen wins a tie, as datatrove's Counter.most_common does."""
    hashes = windows.by_words(n)
    if not len(hashes):
        return None
    _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    best = counts.max()
    start = first[counts == best].min()
    return int((windows.chars(start, n) + n - 1) * best)


def repeated_ngram_chars(windows: _WordWindows, n: int) -> int:
    """Characters in n-grams seen before; a repeat skips its n words (datatrove's rule).

    datatrove walks every position; this visits only the positions whose n-gram occurred earlier
    (the candidates), with the same outcome: a candidate is a repeat when an earlier occurrence of
    its n-gram was visited, that is, not skipped by an earlier repeat; a visited occurrence is in
    datatrove's `seen`, either itself or through an even earlier one."""
    hashes = windows.by_characters(n)
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    candidates = np.flatnonzero(first[inverse] != np.arange(hashes.size))
    if not candidates.size:  # nothing repeats: the usual case, decided in numpy
        return 0
    occurrences: dict[int, list[int]] = {}
    for position in np.flatnonzero(np.bincount(inverse)[inverse] > 1).tolist():
        occurrences.setdefault(int(inverse[position]), []).append(position)
    skip_starts: list[int] = []  # repeats found so far; each hides the n - 1 positions after it
    chars, next_visit = 0, 0
    for c in candidates.tolist():
        if c < next_visit:
            continue
        for p in occurrences[int(inverse[c])]:
            if p >= c:
                break
            k = bisect.bisect_right(skip_starts, p) - 1
            if k < 0 or p >= skip_starts[k] + n or p == skip_starts[k]:
                chars += int(windows.chars(c, n))
                skip_starts.append(c)
                next_visit = c + n
                break
    return chars


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

    def measure(self, text: str, lang: str | None) -> dict:
        size = len(text)
        paragraphs = _PARAGRAPHS.split(text.strip())
        lines = _LINES.split(text)
        para_dups, para_chars = duplicates(paragraphs)
        line_dups, line_chars = duplicates(lines)
        windows = _WordWindows(words_of(text, lang))
        scale = 1 if uses_spaces(lang) else self.segmented_ngram_factor
        signals = {
            "gopher_dup_para_frac": para_dups / len(paragraphs),
            "gopher_dup_para_char_frac": para_chars / size,
            "gopher_dup_line_frac": line_dups / len(lines),
            "gopher_dup_line_char_frac": line_chars / size,
        }
        for n in TOP_NGRAMS:
            chars = top_ngram_chars(windows, n * scale)
            signals[f"gopher_top_{n}gram_char_frac"] = None if chars is None else chars / size
        for n in DUP_NGRAMS:
            signals[f"gopher_dup_{n}gram_char_frac"] = repeated_ngram_chars(windows, n * scale) / size
        return signals

    def __call__(self, doc: dict) -> Decision:
        if not doc["text"]:
            return Decision(False, f"{self.name}.empty", "no text")
        s = self.measure(doc["text"], doc.get("lang"))
        return check(self, s, [(f"max_{name[len('gopher_'):]}", name, ">") for name in self.signals])
