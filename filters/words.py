"""Word splitting, chosen by language.

Space-delimited languages are split into word and punctuation tokens, close to what spaCy's
blank tokenizer (datatrove's English tokenizer) produces for prose. Languages written without
spaces between words get no word split here: word-based rules abstain for them.
"""

import re

# lid.176 codes of languages written without spaces between words.
SPACELESS_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "dz", "wuu", "yue"})

# A word is a run of letters, digits and underscores, joined by inner hyphens, apostrophes or dots
# ("don't", "e.g", "well-known"); every other run of non-space characters is punctuation.
_TOKEN = re.compile(r"(\w+(?:[-'\u2019.]\w+)*)|[^\w\s]+")
_ASCII_LETTER = re.compile(r"[A-Za-z]")


def splits_on_spaces(lang: str | None) -> bool:
    return lang not in SPACELESS_LANGUAGES


def words_and_punctuation(text: str) -> tuple[list[str], int]:
    """(word tokens, number of punctuation tokens): "don't stop!" -> (["don't", "stop"], 1)."""
    tokens = _TOKEN.findall(text)  # the word group, or "" for a punctuation token
    words = [t for t in tokens if t and t.strip("_")]  # "___" is punctuation, as in datatrove
    return words, len(tokens) - len(words)


def has_letter(word: str) -> bool:
    """Does the token hold an alphabetic character (str.isalpha)?"""
    if word.isascii():
        return _ASCII_LETTER.search(word) is not None
    return any(c.isalpha() for c in word)
