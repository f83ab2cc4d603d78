"""Word and sentence splitting, chosen per language.

Space-delimited languages use spaCy's rule-based tokenizer (the one datatrove's filters use), made
fast without changing a single token: spaCy splits text on white space first and tokenizes each
piece on its own, so each distinct piece is tokenized once and remembered. For English the rules
run in Python (filters.spacy_rules), faster than spaCy by far for a new piece, and a piece of letters
needs no tokenizing at all. Per text, no Python code runs per piece: the loop over a text's pieces is
compiled (filters/_splitwords.c) where the package was built with a C compiler, and otherwise runs as
a few C-level passes of Python builtins, giving the same words more slowly. Words are the
non-white-space tokens, as datatrove's `word_tokenize`; sentences follow spaCy's Sentencizer rule.

Languages written without spaces use a segmenter: jieba for Chinese, SudachiPy for Japanese and
PyThaiNLP for Thai. Their sentences end at Unicode sentence terminals.

Splitters are made lazily, once per process (`splitter_for`), so filters stay cheap to pickle, and
are safe to share between a worker's threads.
"""

import re
import sys
import threading
import unicodedata
from functools import lru_cache
from itertools import compress, filterfalse
from operator import not_

from filters.text import TERMINAL_PUNCTUATION
from filters.spacy_rules import PieceSplitter

try:
    from filters._splitwords import split_words as _compiled_split
except ImportError:  # built without a C compiler: the same words from the Python loop
    _compiled_split = None

SEGMENTED_LANGUAGES = ("zh", "ja", "th")
_RUNS = re.compile(r"\S+|\s+")
_PIECE = re.compile(r"\S+")
_MAX_CACHE = 2_000_000  # distinct white-space-delimited pieces remembered per language


def _ends(tokens: list[str]) -> tuple[str, str]:
    return tokens[0], tokens[-1]


def _is_punct(token: str) -> bool:
    """spaCy's `is_punct`: every character is Unicode punctuation."""
    return all(unicodedata.category(ch).startswith("P") for ch in token)


def import_spacy():
    """spaCy, imported without torch where torch is not loaded yet. spaCy imports thinc, which imports
    torch when it is installed, only to offer it as a model backend: a tokenizer needs none of it, and
    torch costs a curation worker about 1.5 CPU seconds (more from a cold disk) and hundreds of MB.
    Marking torch absent while spaCy loads makes thinc go without; torch imports normally later."""
    if "torch" in sys.modules or "thinc" in sys.modules:
        import spacy
        return spacy
    sys.modules["torch"] = None  # `import torch` raises ImportError, which thinc expects
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


class SpacySplitter:
    def __init__(self, lang: str):
        spacy = import_spacy()
        from spacy.pipeline.sentencizer import Sentencizer

        try:
            self._nlp = spacy.blank(lang)
        except (ImportError, KeyError, ValueError):  # no rules for this language: spaCy's multilingual ones
            self._nlp = spacy.blank("xx")
        self._punct_chars = frozenset(Sentencizer.default_punct_chars)
        self._lock = threading.Lock()  # spaCy's memory zones are not for concurrent use
        # spaCy's rules in Python (English); None leaves every new piece to spaCy
        self._split = PieceSplitter.for_tokenizer(self._nlp.tokenizer)
        self._tokens: dict[str, str] = {}  # piece -> its tokens joined by spaces
        # the special cases of letters only that are more than one token ("cannot" -> "can not")
        self._letters = {} if self._split is None else {
            piece: " ".join(self._split(piece)) for piece in self._split.letter_specials}
        # pieces whose tokens may depend on their neighbours -> (first, last) token before the matcher
        self._in_context: dict[str, tuple[str, str]] = {}
        # piece -> sentencizer transitions from "no period seen" and from "period seen"
        self._transitions: dict[str, tuple] = {}
        # the compiled loop needs the English rules: it leaves a piece of letters alone
        self._compiled = _compiled_split if self._split is not None else None

    def words(self, text: str) -> list[str]:
        if self._compiled is not None:
            tokens = self._tokens
            words, missing, tied = self._compiled(text, tokens, self._letters, self._in_context)
            if missing:
                learnt = self._learn(list(dict.fromkeys(map(words.__getitem__, missing))))
                for place in reversed(missing):
                    joined = learnt[words[place]]
                    if " " in joined:  # more than one token
                        words[place:place + 1] = joined.split(" ")
                tied = tied or not self._in_context.keys().isdisjoint(learnt)
            # A full cache that started again while learning lost this text's other pieces, which
            # the neighbours' check needs: Python's loop below learns them again.
            if self._tokens is tokens and not (tied and self._tied_runs(text, text.split(), _Known(self))):
                return words
        return self._python_words(text)

    def _python_words(self, text: str) -> list[str]:
        pieces = text.split()
        if self._split is None:
            odd = list(dict.fromkeys(pieces))
        else:  # English: a piece of letters is one token, unless a special case (in _letters)
            odd = list(dict.fromkeys(filterfalse(str.isalpha, pieces)))
        # Each piece becomes its tokens joined by spaces, and the whole splits again into words:
        # no Python code runs per piece.
        joined = self._letters.copy()
        joined.update(zip(odd, self._joined_tokens(odd)))
        runs = [] if self._in_context.keys().isdisjoint(odd) else self._tied_runs(text, pieces, joined)
        if not runs:
            return " ".join(map(joined.get, pieces, pieces)).split()
        parts = list(map(joined.get, pieces, pieces))
        for start, end, tokens in runs:
            parts[start:end] = [tokens] + [""] * (end - start - 1)
        return " ".join(parts).split()

    def _tied_runs(self, text: str, pieces: list[str], joined) -> list[tuple[int, int, str]]:
        """Runs of pieces that spaCy's special-case matcher may tie together (see
        PieceSplitter.link_pairs), and spaCy's tokens for each: a run holds a piece whose matcher
        pass changed its tokens and the neighbours it is tied to, met by a single space, with tokens
        that meet in a pattern on either side. Nothing outside a run reaches into it."""
        pairs, context = self._split.link_pairs, self._in_context
        spans: list[tuple[int, int]] = []  # of the pieces in the text, found when first needed

        def tied(a: int, b: int) -> bool:
            first, second = pieces[a], pieces[b]
            left = context[first][1] if first in context else joined.get(first, first).rpartition(" ")[2]
            right = context[second][0] if second in context else joined.get(second, second).partition(" ")[0]
            if (left, right) not in pairs:
                return False
            if not spans:
                spans.extend(m.span() for m in _PIECE.finditer(text))
            return text[spans[a][1]:spans[b][0]] == " "

        runs, end = [], 0
        for i in compress(range(len(pieces)), map(context.__contains__, pieces)):
            if i < end:
                continue
            start, end = i, i + 1
            while start > 0 and tied(start - 1, start):
                start -= 1
            while end < len(pieces) and tied(end - 1, end):
                end += 1
            if end - start > 1:
                with self._lock, self._nlp.memory_zone():
                    tokens = [t.text for t in self._nlp.tokenizer(text[spans[start][0]:spans[end - 1][1]])]
                runs.append((start, end, " ".join(tokens)))
        return runs

    def _joined_tokens(self, pieces: list[str]) -> list[str]:
        found = list(map(self._tokens.get, pieces))
        if not all(found):
            missing = list(compress(pieces, map(not_, found)))
            found = list(map(self._learn(missing).get, pieces, found))
        return found

    def _tokens_of(self, piece: str) -> list[str]:
        joined = self._tokens.get(piece)
        if joined is None:
            if self._split is not None and piece.isalpha() and piece not in self._split.letter_specials:
                return [piece]
            joined = self._learn([piece])[piece]
        return joined.split(" ")

    def _learn(self, pieces: list[str]) -> dict[str, str]:
        """Tokenize new pieces, remember and return their joined tokens."""
        if len(self._tokens) + len(pieces) >= _MAX_CACHE or len(self._in_context) >= _MAX_CACHE:
            # New ones (another thread may be reading the old), both at once: a piece remembered
            # must be marked if its tokens may depend on its neighbours.
            self._tokens, self._in_context = {}, {}
        if self._split is None:
            with self._lock:
                learnt = self._spacy_tokens(pieces)
        else:
            learnt, split, in_context = {}, self._split.split, self._in_context
            for piece in pieces:
                tokens, ends = split(piece)
                # One token is the piece itself: the very key, one object less to reach.
                learnt[piece] = " ".join(tokens) if len(tokens) > 1 else piece
                if ends:
                    in_context[piece] = ends
        self._tokens.update(learnt)
        return learnt

    def _spacy_tokens(self, pieces: list[str]) -> dict[str, str]:
        """Pieces tokenized by spaCy in one call. They are joined by new lines, which spaCy splits
        on before anything else and keeps as tokens of their own, so no special case can match
        across two pieces."""
        starts, position = [], 0
        for piece in pieces:
            starts.append(position)
            position += len(piece) + 1
        tokens_of: list[list[str]] = [[] for _ in pieces]
        index = 0
        # The memory zone frees the lexemes spaCy creates for new strings, which would otherwise
        # accumulate in its vocabulary for the life of the worker.
        with self._nlp.memory_zone():
            for token in self._nlp.tokenizer("\n".join(pieces)):
                if token.is_space:
                    continue
                while index + 1 < len(starts) and token.idx >= starts[index + 1]:
                    index += 1
                tokens_of[index].append(token.text)
        return {piece: " ".join(tokens) for piece, tokens in zip(pieces, tokens_of)}

    def _transition(self, tokens, seen_period: bool) -> tuple[int, bool]:
        """spaCy's Sentencizer over these tokens: (sentence starts added, period seen after)."""
        added = 0
        for token in tokens:
            in_punct_chars = token in self._punct_chars
            if seen_period and not in_punct_chars and not _is_punct(token):
                added, seen_period = added + 1, False
            elif in_punct_chars:
                seen_period = True
        return added, seen_period

    def _transitions_of(self, piece: str) -> tuple:
        pair = self._transitions.get(piece)
        if pair is None:
            if len(self._transitions) >= _MAX_CACHE:
                self._transitions.clear()
            tokens = self._tokens_of(piece)
            pair = self._transitions[piece] = (self._transition(tokens, False), self._transition(tokens, True))
        return pair

    def sentence_count(self, text: str) -> int:
        """Sentences as spaCy's Sentencizer counts them: the first token starts one, and after a
        token in its punctuation list the next token that is not punctuation starts the next.
        White space other than one space between tokens is a token too, as in spaCy."""
        count, seen_period, first = 0, False, True
        for match in _RUNS.finditer(text):
            run = match.group()
            if run[0].isspace():
                if run == " " and not first:
                    continue
                added, seen_period = (1, False) if seen_period else (0, False)  # a white-space token
            else:
                if_not_seen, if_seen = self._transitions_of(run)
                added, seen_period = if_seen if seen_period else if_not_seen
            count += added + first
            first = False
        return count


class _Known:
    """A splitter's joined tokens of any piece it has learnt, and of letters (themselves, or a
    special case's tokens): what `_tied_runs` asks of its neighbours."""

    def __init__(self, splitter: SpacySplitter):
        self._letters, self._tokens = splitter._letters, splitter._tokens

    def get(self, piece: str, default: str) -> str:
        joined = self._letters.get(piece)
        return joined if joined is not None else self._tokens.get(piece, default)


class SegmenterSplitter:
    """Words from a segmenter; sentences end at Unicode sentence terminals."""

    def __init__(self, lang: str):
        self.lang = lang
        self._lock = threading.Lock()  # segmenter objects are not thread-safe
        if lang == "zh":
            import jieba

            jieba.setLogLevel(60)
            self._cut = lambda text: jieba.lcut(text)
        elif lang == "ja":
            from sudachipy import Dictionary, SplitMode

            tokenizer = Dictionary(dict="core").create()
            self._cut = lambda text: [m.surface() for m in tokenizer.tokenize(text, SplitMode.C)]
        elif lang == "th":
            from pythainlp.tokenize import word_tokenize

            self._cut = lambda text: word_tokenize(text, keep_whitespace=False, engine="newmm-safe")
        else:
            raise ValueError(f"no segmenter for {lang!r}")

    def words(self, text: str) -> list[str]:
        out = []
        with self._lock:
            for line in text.splitlines():  # segmenters are given lines, keeping inputs short
                out.extend(w.strip() for w in self._cut(line) if w.strip())
        return out

    def sentence_count(self, text: str) -> int:
        count, in_sentence = 0, False
        for ch in text:
            if ch in TERMINAL_PUNCTUATION:
                in_sentence = False
            elif not ch.isspace() and not in_sentence:
                count, in_sentence = count + 1, True
        return count


@lru_cache(maxsize=8)
def words_of(text: str, lang: str | None) -> list[str]:
    """The words of a text; the filters of one chain ask for the same text's words in turn.
    Callers must not change the list."""
    return splitter_for(lang).words(text)


@lru_cache(maxsize=None)
def splitter_for(lang: str | None):
    """The word splitter for a lid.176 language code (English rules when unknown)."""
    if lang in SEGMENTED_LANGUAGES:
        return SegmenterSplitter(lang)
    return SpacySplitter(lang or "en")


def uses_spaces(lang: str | None) -> bool:
    return lang not in SEGMENTED_LANGUAGES
