"""Word splitting, chosen by language.

Space-delimited languages are split into word and punctuation tokens, close to what spaCy's
blank tokenizer (datatrove's English tokenizer) produces for prose. Languages written without
spaces between words get no word split here: word-based rules abstain for them.
"""

import re
import unicodedata

# lid.176 codes of languages written without spaces between words.
SPACELESS_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "dz", "wuu", "yue"})

_TOKEN = re.compile(r"\w+(?:[-'\u2019.]\w+)*|[^\w\s]+")


def splits_on_spaces(lang: str | None) -> bool:
    return lang not in SPACELESS_LANGUAGES


def tokenize(text: str) -> list[str]:
    """Word and punctuation tokens ("don't," -> ["don't", ","])."""
    return _TOKEN.findall(text)


def is_punctuation(token: str) -> bool:
    return all(unicodedata.category(ch)[0] in "PS" for ch in token)
