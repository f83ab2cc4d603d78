"""Character classes and text splitting shared by the rule families.

The punctuation and terminal-punctuation sets are the ones datatrove's filters count with, so the
presets that reproduce datatrove decide the same way (bench/filters.py checks the sets match).
"""

import functools
import string

import regex

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
TERMINAL_PUNCTUATION = frozenset(chr(c) for c in range(0x110000) if _STERM.match(chr(c))) | {
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
