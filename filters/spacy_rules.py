"""spaCy's English tokenizer rules, run in Python without building spaCy tokens.

spaCy tokenizes each white-space-delimited piece on its own: it strips prefixes and suffixes in
turn (stopping at a special case such as "etc." or "don't"), keeps a URL whole, splits what is left
at infixes ("well-known"), and finally re-applies special cases that the affix steps broke apart (a
matcher pass over the tokens, as in "x-a." -> x - a.). `PieceSplitter` runs the same steps with the
tokenizer's own special cases and regular expressions, so it decides as spaCy does by construction.
It is fast because it makes no spaCy lexemes and because it skips a regex call where the characters
at hand decide the answer: no affix or infix rule matches a letter, no suffix rule ends in an ASCII
digit, a comma at the end is always a suffix of its own, and so on (each shortcut says why). The
matcher pass is the one step that can look beyond a piece: a match across the space between two
pieces changes nothing itself but can keep one inside a piece from applying, so the splitter says
which pieces the matcher found a pattern in, for the caller to check their neighbours
(filters.words leaves such a run of pieces to spaCy).

The shortcuts were derived from the English rules of spaCy 3.8: `PieceSplitter.for_tokenizer`
checks that a tokenizer has exactly those (`ENGLISH_RULES_SHA256`) and otherwise gives None, which
leaves every piece to spaCy. tests/test_spacy_rules.py holds the evidence: each shortcut against
the regex it skips, and real and adversarial texts against spaCy, token for token.
"""

import hashlib
import re
import string
from collections.abc import Sequence

# sha256 of the prefix, suffix, infix and URL patterns of spacy.blank("en"), spaCy 3.8
ENGLISH_RULES_SHA256 = "3b070276bf3e6482b0d0ccbff90352272746e94226d145bd983372cbe52b197f"

_DIGITS = frozenset(string.digits)
_UPPER = frozenset(string.ascii_uppercase)
_LOWER_OR_DIGIT = frozenset(string.ascii_lowercase + string.digits)
_ALNUM = frozenset(string.ascii_letters + string.digits)
# ASCII characters that are a prefix at the start, or a suffix at the end, whatever is next to them:
# no longer or conditional rule starts (ends) with them.
_PREFIX_CHARS = "%=,:;!?()[]{}<>_#*&'\"`$"
_SUFFIX_CHARS = ",:;!?()[]{}<>_#*&'\"`"
_ONE_CHAR_PREFIXES = frozenset(_PREFIX_CHARS)
_ONE_CHAR_SUFFIXES = frozenset(_SUFFIX_CHARS)
_SUFFIX_WINDOW = 8  # longest suffix rule but a run of dots: 5 characters, after a 2-character look-behind
# The English infix rules as they apply to ASCII text (the others need a character beyond ASCII),
# in the same order: a run of dots; + - * ^ between digits; a dot between a lower-case letter and an
# upper-case one (or quotes); a comma between letters; hyphens and ~ after a letter or digit and
# before a letter; : < > = / likewise.
_ASCII_INFIXES = re.compile(  # in a group, for re.split
    r"(\.\.+"
    r"|(?<=[0-9])[+\-*^](?=[0-9-])"
    r"|(?<=[a-z\"',`])\.(?=[A-Z\"',`])"
    r"|(?<=[A-Za-z]),(?=[A-Za-z])"
    r"|(?<=[A-Za-z0-9])(?:-|--|---|~)(?=[A-Za-z])"
    r"|(?<=[A-Za-z0-9])[:<>=/](?=[A-Za-z]))")
_INFIX_ASCII = frozenset(".+-*^,~:<>=/")  # the characters those rules can split at
# What every ASCII URL has: a dot before two lower-case letters (the top-level domain), or three
# dots (an IP address).
_MAYBE_URL = re.compile(r"\.[a-z][a-z]|\..*\..*\.")
# An ASCII piece as one-character prefixes, a core from the first letter or digit to the last, and
# one-character suffixes, a full stop among them only where it is a suffix (see _suffix_len). The
# core has no affix of its own: it starts with no currency (US$ C$ A$) and ends in no 's and in no
# letter up to four places after a digit (a unit, as in 5km).
_AFFIXED = re.compile(
    rf"([{re.escape(_PREFIX_CHARS)}]*)"
    r"((?!US\$|C\$|A\$)[A-Za-z0-9](?:.*[A-Za-z0-9])?)"
    r"(?<!'[sS])(?<![0-9][A-Za-z])(?<![0-9].[A-Za-z])(?<![0-9]..[A-Za-z])(?<![0-9]...[A-Za-z])"
    rf"((?:[{re.escape(_SUFFIX_CHARS)}]|(?<=[{re.escape(_SUFFIX_CHARS)}a-z0-9])\.|(?<=[A-Z][A-Z])\.)*)")
# Digits in groups parted by single dots or commas ("3.14", "1,000", "1.2.3.4"): no infix rule splits
# them, and a URL (an IP address) is one token too.
_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]+)*")


def rules_digest(tokenizer) -> str:
    patterns = [getattr(f, "__self__", None) for f in (tokenizer.prefix_search, tokenizer.suffix_search,
                                                       tokenizer.infix_finditer, tokenizer.url_match)]
    if None in patterns or tokenizer.token_match is not None:
        return ""
    return hashlib.sha256("\n".join(p.pattern for p in patterns).encode()).hexdigest()


class PieceSplitter:
    """The tokens spaCy's tokenizer gives a piece of text without white space."""

    def __init__(self, tokenizer):
        from spacy.attrs import ORTH, intify_attrs

        self._prefix = tokenizer.prefix_search
        self._suffix = tokenizer.suffix_search
        self._infixes = tokenizer.infix_finditer
        self._url = tokenizer.url_match
        self._specials = {text: tuple(intify_attrs(t)[ORTH] for t in tokens)
                          for text, tokens in tokenizer.rules.items()}
        # Pieces of letters that are not one token ("cannot" -> can not); any other piece of
        # letters is one, as no affix or infix rule matches a letter.
        self.letter_specials = frozenset(text for text, tokens in self._specials.items()
                                         if text.isalpha() and tokens != (text,))
        # The cores (see _AFFIXED) of the special cases: a piece with another core meets none
        # while its affixes are peeled.
        self._special_cores = frozenset(_core(text) for text in self._specials)
        self._patterns: dict[tuple, list[tuple]] = {}  # the matcher's, by their first two tokens
        for pattern in _matcher_patterns(tokenizer, self._specials):
            self._patterns.setdefault(pattern[:2], []).append(pattern)
        # Consecutive tokens of a pattern. The matcher also matches across the space between two
        # pieces, where such a pair can meet: a match there changes nothing itself, but can keep
        # one inside a piece from applying.
        self.link_pairs = frozenset(pair for pattern in (p for ps in self._patterns.values() for p in ps)
                                    for pair in zip(pattern, pattern[1:]))

    @classmethod
    def for_tokenizer(cls, tokenizer):
        """A splitter for this tokenizer, or None when its rules are not the ones the shortcuts
        were derived from."""
        if rules_digest(tokenizer) != ENGLISH_RULES_SHA256 or not tokenizer.faster_heuristics:
            return None
        try:
            return cls(tokenizer)
        except ValueError:  # special cases the matcher check does not cover
            return None

    def __call__(self, piece: str) -> tuple[str, ...]:
        return tuple(self.split(piece)[0])

    def split(self, piece: str) -> tuple[Sequence[str], tuple[str, str] | None]:
        """The piece's tokens; and where the special-case matcher found a pattern inside it, the
        first and last token before the matcher pass (else None): such a piece's tokens can
        depend on its neighbours (see link_pairs)."""
        tokens = self._specials.get(piece)
        if tokens is not None:
            return tokens, None
        if piece.isalpha():  # no affix or infix rule matches a letter
            return (piece,), None
        body, last = piece[:-1], piece[-1]
        if last in _ONE_CHAR_SUFFIXES and body.isalpha() and body not in self._specials:
            return (body, last), None  # "word," (body not special): as first_pass would find
        tokens = self.first_pass(piece)
        # A pattern covering the whole piece would be the piece's own special case, handled above.
        if len(tokens) > 2 and not self._patterns.keys().isdisjoint(zip(tokens, tokens[1:])):
            matched = self._apply_matcher(tokens)
            if matched is not None:
                return matched, (tokens[0], tokens[-1])
        return tokens, None

    def first_pass(self, piece: str) -> list[str]:
        """The tokens of a piece that is not a special case before the matcher pass: affixes,
        then what they leave.

        An ASCII piece of one-character prefixes, a core and one-character suffixes (_AFFIXED)
        whose core is no special case's is peeled by spaCy a character at a time, meeting no
        special case, before the core is attached; any other piece goes through spaCy's steps."""
        if not piece.isascii():
            return self._peeled(piece)
        rest = piece.lstrip(_PREFIX_CHARS)
        core = rest.rstrip(_SUFFIX_CHARS)
        if core.isalnum() and core not in self._special_cores and (  # "(word)", "x86": as _AFFIXED
                core[-1] in _DIGITS or _DIGITS.isdisjoint(core[-5:-1])):
            return [*piece[:len(piece) - len(rest)], core, *rest[len(core):]]
        match = _AFFIXED.fullmatch(piece)
        if match is not None:
            prefixes, core, suffixes = match.groups()
            if core not in self._special_cores:
                if _INFIX_ASCII.isdisjoint(core):  # no infix, and no URL: every URL pattern has a dot
                    return [*prefixes, core, *suffixes]
                return [*prefixes, *self._attach(core), *suffixes]
        return self._peeled(piece)

    def _peeled(self, piece: str) -> list[str]:
        """spaCy's steps one by one: affixes, then what they leave."""
        prefixes, core, suffixes = self._split_affixes(piece)
        if core:
            prefixes += self._attach(core)
        prefixes += reversed(suffixes)
        return prefixes

    def _split_affixes(self, s: str) -> tuple[list, str, list]:
        """spaCy's Tokenizer._split_affixes: peel prefixes and suffixes until none is left or what
        is left (or what a prefix or suffix leaves) is a special case."""
        specials = self._specials
        prefixes, suffixes = [], []
        last_size = 0
        while s and len(s) != last_size:
            if s in specials:
                break
            last_size = len(s)
            pre_len = self._prefix_len(s)
            if pre_len:
                minus_pre = s[pre_len:]
                if minus_pre and minus_pre in specials:
                    prefixes.append(s[:pre_len])
                    s = minus_pre
                    break
            suf_len = self._suffix_len(s[pre_len:])
            if suf_len:
                minus_suf = s[:-suf_len]
                if minus_suf and minus_suf in specials:
                    suffixes.append(s[-suf_len:])
                    s = minus_suf
                    break
            if pre_len and suf_len and pre_len + suf_len <= len(s):
                prefixes.append(s[:pre_len])
                suffixes.append(s[-suf_len:])
                s = s[pre_len:-suf_len]
            elif pre_len:
                prefixes.append(s[:pre_len])
                s = minus_pre
            elif suf_len:
                suffixes.append(s[-suf_len:])
                s = minus_suf
        return prefixes, s, suffixes

    def _attach(self, s: str) -> tuple | list:
        """spaCy's Tokenizer._attach_tokens for what the affixes leave: a special case, a URL, or
        the pieces between infixes."""
        special = self._specials.get(s)
        if special is not None:
            return special
        if s.isascii():
            if _INFIX_ASCII.isdisjoint(s):  # no infix, and no URL: every URL pattern has a dot
                return (s,)
            left, hyphen, right = s.partition("-")
            if hyphen and left.isalpha() and right.isalpha():  # "well-known": the only infix
                return left, hyphen, right
            if _NUMBER.fullmatch(s):
                return (s,)
            if "." in s and _MAYBE_URL.search(s) and self._url(s):
                return (s,)
            parts = _ASCII_INFIXES.split(s)
            if parts[0]:  # no infix at the very start, which spaCy would skip
                return list(filter(None, parts))
            matches = _ASCII_INFIXES.finditer(s)
        elif "." in s and self._url(s):
            return (s,)
        else:
            matches = self._infixes(s)
        tokens, start = [], 0
        for match in matches:
            infix_start, infix_end = match.span()
            if infix_start == 0:  # spaCy skips an infix at the very start
                continue
            if infix_start != start:
                tokens.append(s[start:infix_start])
            if infix_start != infix_end:
                tokens.append(s[infix_start:infix_end])
            start = infix_end
        if start < len(s):
            tokens.append(s[start:])
        return tokens

    def _prefix_len(self, s: str) -> int:
        first = s[0]
        if first in _ALNUM:
            if first not in "UCA":  # the prefixes with letters are US$, C$ and A$
                return 0
        elif first in _ONE_CHAR_PREFIXES:
            return 1
        match = self._prefix(s)
        return match.end() - match.start() if match else 0

    def _suffix_len(self, s: str) -> int:
        if not s:
            return 0
        last = s[-1]
        if last in _ALNUM:
            # A suffix ending in an ASCII letter is 's (or ’s) or a unit after a digit ("5km",
            # "3mbar"); none ends in an ASCII digit.
            if last in _DIGITS:
                return 0
            if s[-2:-1] in ("'", "’") and last in "sS":
                return 2
            if _DIGITS.isdisjoint(s[-5:-1]):
                return 0
        elif last in _ONE_CHAR_SUFFIXES:
            return 1
        elif last == ".":
            # A full stop is a suffix after a lower-case letter or a digit, or after two upper-case
            # letters; after one upper-case letter that follows some other ASCII character it is not.
            before = s[-2:-1]
            if before in _LOWER_OR_DIGIT:
                return 1
            if before in _UPPER:
                two_before = s[-3:-2]
                if two_before in _UPPER:
                    return 1
                if two_before.isascii():
                    return 0
        if len(s) > _SUFFIX_WINDOW and not s.endswith(".."):
            s = s[-_SUFFIX_WINDOW:]  # the regex tries every position; only the last few can match
        match = self._suffix(s)
        return match.end() - match.start() if match else 0

    def _apply_matcher(self, tokens: list[str]) -> list[str] | None:
        """spaCy's Tokenizer._apply_special_cases inside one piece (None if no pattern occurs):
        of all occurrences of patterns, the longer first and of equal length the one further left
        becomes its special case, unless its first or last token is in one already looked at."""
        spans = []
        for i, pair in enumerate(zip(tokens, tokens[1:])):
            for pattern in self._patterns.get(pair, ()):
                if tuple(tokens[i:i + len(pattern)]) == pattern:
                    spans.append((i, i + len(pattern)))
        if not spans:
            return None
        spans.sort(key=lambda span: (span[0] - span[1], span[0]))
        seen, taken = set(), []
        for start, end in spans:
            if start not in seen and end - 1 not in seen:
                taken.append((start, end))
            seen.update(range(start, end))
        out, done = [], 0
        for start, end in sorted(taken):
            out += tokens[done:start]
            out += self._specials["".join(tokens[start:end])]
            done = end
        out += tokens[done:]
        return out


def _core(text: str) -> str:
    """From the first ASCII letter or digit to the last ("" if none)."""
    ends = [i for i, ch in enumerate(text) if ch in _ALNUM]
    return text[ends[0]:ends[-1] + 1] if ends else ""


def _matcher_patterns(tokenizer, specials: dict) -> list[tuple]:
    """The token sequences spaCy's matcher pass looks for: each special case that affix or infix
    rules would split, as those rules alone split it (Tokenizer.add_special_case)."""
    from spacy.tokenizer import Tokenizer

    plain = Tokenizer(tokenizer.vocab, rules={}, prefix_search=tokenizer.prefix_search,
                      suffix_search=tokenizer.suffix_search, infix_finditer=tokenizer.infix_finditer,
                      token_match=tokenizer.token_match, url_match=tokenizer.url_match)
    patterns = []
    for text, tokens in specials.items():
        if (tokenizer.find_prefix(text) or tokenizer.find_suffix(text) or tokenizer.find_infix(text)
                or " " in text):
            pattern = tuple(t.text for t in plain(text))
            if len(pattern) > 1:
                patterns.append(pattern)
            elif pattern != tokens:  # a one-token pattern that changes the token: not in English
                raise ValueError(f"special case {text!r} is a single token for the matcher")
    return patterns
