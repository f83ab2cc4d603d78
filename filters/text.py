"""Character classes, text splitting and per-word facts shared by the rule families.

The punctuation and terminal-punctuation sets are the ones datatrove's filters count with, so the
presets that reproduce datatrove decide the same way (bench/filters.py checks the sets match).
"""

import functools
import string
import threading
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import regex

try:
    from filters._wordfacts import word_facts as _compiled_word_facts
except ImportError:  # built without a C compiler: word_facts below works them out in numpy and Python
    _compiled_word_facts = None

# ASCII punctuation, the typographic and CJK marks datatrove adds (its list includes the full-width
# digit one), and the C0 and C1 control characters except tab and newline.
PUNCTUATION = frozenset(
    string.punctuation
    + "«´»–—’“”„…∶━►、。〈〉《》「」【】！％（），．１：；？～"
    + "".join(chr(c) for c in (*range(0, 9), *range(11, 32), *range(127, 160)))
)

# Characters that end a sentence: Unicode's Sentence_Terminal property, plus three Khmer signs
# datatrove also counts. (Unicode 15-16 added a few terminals datatrove's list predates.)
_STERM = regex.compile(r"\p{Sentence_Terminal}")
# (one regex scan of every code point: a third of the time of a match per character, at every import)
TERMINAL_PUNCTUATION = frozenset(_STERM.findall("".join(map(chr, range(0x110000))))) | {
    "\u17d6", "\u17d9", "\u17da"}
PUNCTUATION_SET = PUNCTUATION | TERMINAL_PUNCTUATION


@functools.lru_cache(maxsize=1 << 20)
def is_symbol_word(word: str) -> bool:
    """A token made only of punctuation (datatrove's non-word test); remembered per token."""
    return all(ch in PUNCTUATION_SET for ch in word)


@functools.lru_cache(maxsize=1 << 20)
def has_alpha(word: str) -> bool:
    """Does the token hold an alphabetic character (str.isalpha)? Remembered per token."""
    return any(ch.isalpha() for ch in word)


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines (runs of two or more newlines)."""
    return [p for p in regex.split(r"\n{2,}", text.strip()) if p.strip()]


# Per-word facts. The filters of a chain each look at every word of a text; the facts of a word are
# worked out once per process, kept in numpy columns indexed by word id, and a text's words become
# one dict lookup each and a gather per column, with no Python code per word.

MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: polynomial hashes mod 2**64
_POWERS = np.ones(1, np.uint64)  # MULTIPLIER**k mod 2**64 at k


def multiplier_powers(count: int) -> np.ndarray:
    """MULTIPLIER**k for every k < count (at least)."""
    global _POWERS
    if len(_POWERS) < count:
        table = np.full(max(count, 2 * len(_POWERS)), MULTIPLIER)
        table[0] = 1
        _POWERS = np.multiply.accumulate(table)  # wraps mod 2**64
    return _POWERS


def char_hashes(words: list[str], lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hash of each word's characters, MULTIPLIER**its length). The hash of characters c1..ck is
    c1 * m**(k-1) + ... + ck mod 2**64, so a word's hash times the next word's power plus the
    next word's hash is the hash of the two joined."""
    codes = np.frombuffer("".join(words).encode("utf-32-le", "surrogatepass"), np.uint32).astype(np.uint64)
    ends = np.cumsum(lengths)
    table = multiplier_powers(int(lengths.max(initial=0)) + 1)
    to_end = np.repeat(ends, lengths) - np.arange(1, len(codes) + 1)  # characters after each in its word
    terms = np.append(codes * table[to_end], np.uint64(0))  # the 0 ends an empty last word's slice
    hashes = np.add.reduceat(terms, ends - lengths) if len(words) else np.zeros(0, np.uint64)
    return np.where(lengths > 0, hashes, np.uint64(0)), table[lengths]


# PUNCTUATION_SET as one bit per code point, for the compiled word_facts
_PUNCTUATION_BITS = np.packbits(np.isin(np.arange(0x110000), list(map(ord, PUNCTUATION_SET))),
                                bitorder="little").tobytes()


def word_facts(words: list[str], compiled: bool = True) -> tuple[np.ndarray, ...]:
    """(lengths, is_symbol_word, has_alpha, char hashes, MULTIPLIER**length) of each word."""
    if compiled and _compiled_word_facts is not None:
        raw = _compiled_word_facts(words, _PUNCTUATION_BITS, int(MULTIPLIER))
        return tuple(np.frombuffer(b, dtype) for b, dtype in zip(raw, (np.int64, bool, bool, np.uint64, np.uint64)))
    lengths = np.fromiter(map(len, words), np.int64, len(words))
    # the functions themselves, not their caches: each word comes here once
    return (lengths, np.fromiter(map(is_symbol_word.__wrapped__, words), bool, len(words)),
            np.fromiter(map(has_alpha.__wrapped__, words), bool, len(words)), *char_hashes(words, lengths))


@dataclass(frozen=True)
class WordColumns:
    """A text's words as ids and per-word facts, position by position."""
    ids: np.ndarray  # from 1, the same for the same word throughout the process (until LIMIT)
    lengths: np.ndarray  # characters
    symbol: np.ndarray  # is_symbol_word
    alpha: np.ndarray  # has_alpha
    hashes: np.ndarray  # char_hashes: hash of the characters
    powers: np.ndarray  # and MULTIPLIER**length


class _Vocabulary:
    """Every word met, with an id, and its facts in columns indexed by id.

    One per process, shared by threads: additions take a lock and publish a word's id only after its
    columns are written (columns are replaced by larger copies, never shrunk), and a full
    vocabulary is replaced rather than cleared, so a reader always finds the facts of its ids."""

    LIMIT = 5_000_000  # words remembered before starting again
    _lock = threading.Lock()

    def __init__(self):
        self.ids: dict[str, int] = {}
        size = 1 << 12
        self.lengths = np.zeros(size, np.int64)
        self.symbol = np.zeros(size, bool)
        self.alpha = np.zeros(size, bool)
        self.hashes = np.zeros(size, np.uint64)
        self.powers = np.zeros(size, np.uint64)

    def columns(self, words: list[str]) -> WordColumns:
        # One pass: a word not met before gets 0 (no word's id), then ids for the new words only.
        ids = np.fromiter(map(self.ids.get, words, repeat(0)), np.intp, len(words))
        new = (ids == 0).nonzero()[0]
        if new.size:
            fresh = [words[i] for i in new.tolist()]
            self._add(fresh)
            ids[new] = np.fromiter(map(self.ids.__getitem__, fresh), np.intp, len(fresh))
        return WordColumns(ids, self.lengths[ids], self.symbol[ids], self.alpha[ids], self.hashes[ids],
                           self.powers[ids])

    def _add(self, words: list[str]) -> None:
        with self._lock:
            new = [w for w in dict.fromkeys(words) if w not in self.ids]
            first, end = len(self.ids) + 1, len(self.ids) + 1 + len(new)
            names = ("lengths", "symbol", "alpha", "hashes", "powers")
            if end > len(self.lengths):
                size = max(end, 2 * len(self.lengths))
                for name in names:
                    column = getattr(self, name)
                    setattr(self, name, np.concatenate((column, np.zeros(size - len(column), column.dtype))))
            for name, values in zip(names, word_facts(new)):
                getattr(self, name)[first:end] = values
            self.ids.update(zip(new, range(first, end)))


_VOCABULARY = _Vocabulary()
_RECENT: dict[int, tuple[list[str], WordColumns]] = {}  # id(words) -> (words, their columns)


def word_columns(words: list[str]) -> WordColumns:
    """The columns of a list of words. The last few lists are remembered, by identity: the filters
    of a chain ask in turn about the same list (filters.words.words_of's), which must not be
    changed."""
    global _VOCABULARY
    entry = _RECENT.get(id(words))
    if entry is not None and entry[0] is words:
        return entry[1]
    if len(_VOCABULARY.ids) > _Vocabulary.LIMIT:
        _VOCABULARY = _Vocabulary()
    columns = _VOCABULARY.columns(words)
    if len(_RECENT) >= 8:
        _RECENT.clear()
    _RECENT[id(words)] = (words, columns)
    return columns
