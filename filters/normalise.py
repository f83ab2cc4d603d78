"""Unicode and whitespace normalisation: the text every later stage (and the trainer) sees.

ftfy repairs mojibake, terminal escape codes and stray control characters and applies NFC. Its
width and quote rewrites are off: they would turn Chinese full-width punctuation into ASCII and
straighten every curly quote, which changes text rather than repairs it. Whitespace is made
regular without flattening indentation, so code blocks survive.
"""

import re
import unicodedata

import ftfy
from ftfy import chardata
from ftfy.badness import is_bad

_FTFY = ftfy.TextFixerConfig(unescape_html=False, fix_character_width=False, uncurl_quotes=False,
                             explain=False)
# Unicode spaces other than ' ' and the ideographic space U+3000 (part of CJK typography) become ' '.
_ODD_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f]")
# Zero-width space and stray byte-order marks carry nothing; ZWJ/ZWNJ are kept (Persian, Indic).
_INVISIBLE = re.compile("[\u200b\u2060\ufeff]")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


# ASCII lines without control characters (\r included) are ones ftfy returns unchanged.
_ASCII_NOT_CLEAN = re.compile(r"[^\t\n\x20-\x7e]")
# Every character some ftfy fixer other than the mojibake repair acts on (a superset): C0/C1
# controls, \r and other line breaks, ligatures, surrogates and ftfy's list of control characters.
_FIXABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
                      + "".join(re.escape(chr(c)) for c in sorted(chardata.LIGATURES) + sorted(chardata.CONTROL_CHARS))
                      + "]")


def _unchanged_by_ftfy(text: str) -> bool:
    if not _ASCII_NOT_CLEAN.search(text):
        return True
    return not _FIXABLE.search(text) and not is_bad(text) and unicodedata.is_normalized("NFC", text)


def fix_text(text: str) -> str:
    """ftfy.fix_text with this module's settings: the same result, faster.

    ftfy repairs line by line, and returns a line unchanged when it is not mojibake (its `is_bad`
    test), holds no character any other fixer acts on, and is in NFC. Text that passes those tests
    as a whole skips ftfy, and so does each such line of the rest. The shortcut is exact: a test
    compares it with ftfy on real corpora.
    """
    if _unchanged_by_ftfy(text):
        return text
    out, pos = [], 0
    while pos < len(text):  # ftfy.fix_text's segmentation
        end = text.find("\n", pos) + 1 or len(text)
        end = min(end, pos + _FTFY.max_decode_length)
        segment = text[pos:end]
        out.append(segment if _unchanged_by_ftfy(segment) else ftfy.fix_and_explain(segment, _FTFY).text)
        pos = end
    return "".join(out)


def normalise_text(text: str) -> str:
    text = fix_text(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ODD_SPACES.sub(" ", text)
    text = _INVISIBLE.sub("", text)
    text = _TRAILING_SPACE.sub("", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n").rstrip()
