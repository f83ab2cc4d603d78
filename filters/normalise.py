"""Unicode and whitespace normalisation: the text every later stage (and the trainer) sees.

ftfy repairs mojibake, terminal escape codes and stray control characters and applies NFC. Its
width and quote rewrites are off: they would turn Chinese full-width punctuation into ASCII and
straighten every curly quote, which changes text rather than repairs it. Whitespace is made
regular without flattening indentation, so code blocks survive.
"""

import re
import unicodedata
from re import _constants as sre, _parser

import ftfy
from ftfy import chardata
from ftfy.badness import BADNESS_RE, is_bad

_FTFY = ftfy.TextFixerConfig(unescape_html=False, fix_character_width=False, uncurl_quotes=False,
                             explain=False)
# Unicode spaces other than ' ' and the ideographic space U+3000 (part of CJK typography) become ' '.
_ODD_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f]")
# Zero-width space and stray byte-order marks carry nothing; ZWJ/ZWNJ are kept (Persian, Indic).
_INVISIBLE = re.compile("[\u200b\u2060\ufeff]")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile("\n\n\n+")  # "\n{3,}", written so that re skips from newline to newline


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
    return not _FIXABLE.search(text) and not _is_bad(text) and unicodedata.is_normalized("NFC", text)


def _longest_mojibake(pattern: re.Pattern) -> int | None:
    """The most characters a match of ftfy's badness pattern spans, if every match is that short and
    holds a character outside ASCII, and nothing in the pattern looks beyond its match; else None.
    Read from the parsed pattern, so a new ftfy is checked rather than trusted."""
    tree = _parser.parse(pattern.pattern, pattern.flags)
    longest = tree.getwidth()[1]
    if longest >= sre.MAXREPEAT or len(tree.data) != 1 or tree.data[0][0] is not sre.BRANCH:
        return None

    def non_ascii(op, av) -> bool:  # an item that matches one character, never an ASCII one
        if op is sre.LITERAL:
            return av > 0x7F
        return op is sre.IN and all((o is sre.LITERAL and a > 0x7F) or (o is sre.RANGE and a[0] > 0x7F) for o, a in av)

    def local(items) -> bool:  # no look-around, word boundary or anchor but the string's start
        for op, av in items:
            if op is sre.BRANCH:
                ok = all(local(branch.data) for branch in av[1])
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                ok = local(av[2].data)
            elif op is sre.SUBPATTERN:
                ok = local(av[3].data)
            elif op is sre.AT:
                ok = av in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING)
            else:
                ok = op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY)
            if not ok:
                return False
        return True

    branches = tree.data[0][1][1]
    if local(tree.data) and all(any(non_ascii(op, av) for op, av in b.data) for b in branches):
        return longest
    return None


_MOJIBAKE_SPAN = _longest_mojibake(BADNESS_RE)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _is_bad(text: str) -> bool:
    """ftfy's is_bad, searching only around the characters outside ASCII: every match holds one and
    spans at most _MOJIBAKE_SPAN characters, so it lies within that reach of it (the search's start
    and end positions leave the pattern's view of the text as it is: it has no look-around and
    its ^ matches only at the text's real start)."""
    if _MOJIBAKE_SPAN is None:
        return is_bad(text)
    reach = _MOJIBAKE_SPAN - 1
    start, end = 0, -1  # the window being grown: runs whose reaches overlap share one
    for run in _NON_ASCII_RUN.finditer(text):
        if run.start() - reach > end:
            if end >= 0 and BADNESS_RE.search(text, start, end):
                return True
            start = max(0, run.start() - reach)
        end = run.end() + reach
    return end >= 0 and BADNESS_RE.search(text, start, end) is not None


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
    # Each step runs only where it can change something (the checks cost far less than the passes).
    text = fix_text(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():  # odd spaces and invisible characters are outside ASCII
        text = _ODD_SPACES.sub(" ", text)
        text = _INVISIBLE.sub("", text)
    if " \n" in text or "\t\n" in text or text.endswith((" ", "\t")):  # where [ \t]+$ can match
        text = _TRAILING_SPACE.sub("", text)
    if "\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n").rstrip()
