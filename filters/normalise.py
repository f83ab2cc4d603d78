"""Unicode and whitespace normalisation: the text every later stage (and the trainer) sees.

ftfy repairs mojibake, terminal escape codes and stray control characters and applies NFC. Its
width and quote rewrites are off: they would turn Chinese full-width punctuation into ASCII and
straighten every curly quote, which changes text rather than repairs it. Whitespace is made
regular without flattening indentation, so code blocks survive.
"""

import re

import ftfy

_FTFY = ftfy.TextFixerConfig(unescape_html=False, fix_character_width=False, uncurl_quotes=False,
                             explain=False)
# Unicode spaces other than ' ' and the ideographic space U+3000 (part of CJK typography) become ' '.
_ODD_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f]")
# Zero-width space and stray byte-order marks carry nothing; ZWJ/ZWNJ are kept (Persian, Indic).
_INVISIBLE = re.compile("[\u200b\u2060\ufeff]")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_text(text: str) -> str:
    text = ftfy.fix_text(text, _FTFY)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ODD_SPACES.sub(" ", text)
    text = _INVISIBLE.sub("", text)
    text = _TRAILING_SPACE.sub("", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n").rstrip()
