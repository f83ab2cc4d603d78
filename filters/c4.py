"""C4's line cleaning and page rules (Raffel et al. 2020), in the two forms in use.

A line is removed when it has a word over 1,000 characters, does not end in a terminal mark (or
ends in an ellipsis), has too few words, mentions javascript or a cookie/terms policy; Wikipedia
citation markers are cut from it. A page is dropped when a kept line says "lorem ipsum" or holds a
curly bracket, or when the kept lines hold too few sentences. Kept pages keep only the kept lines.

Two presets, because the code and the paper disagree (configs/filters/):
- `c4-tfds`, TensorFlow Datasets' c4_utils.clean_page: 5 words a line, 3 sentences, end marks
  . ? ! ", words counted after citation markers are cut.
- `c4-datatrove`, datatrove's C4QualityFilter: 3 words a line, 5 sentences (the paper's numbers),
  end marks also '.
Sentences are counted with spaCy's Sentencizer rule (datatrove's); TFDS uses NLTK's punkt.

Scripts: for languages without spaces, words per line come from the segmenter and a line may end
in any Unicode sentence terminal (。！？), since the ASCII marks would remove every line.
"""

import functools
import re
from dataclasses import dataclass

from filters.base import Decision
from filters.text import TERMINAL_PUNCTUATION
from filters.words import SpacySplitter, import_spacy, splitter_for, uses_spaces

_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_COOKIE_POLICY = tuple(p for p in _POLICY if "cookie" in p)
_OTHER_POLICY = tuple(p for p in _POLICY if "cookie" not in p)
_ELLIPSIS = "..."
_ALL_TERMINALS = tuple(TERMINAL_PUNCTUATION) + ('"', "'", "\u201d", "\u300d", "\u300f")


def sentence_count(splitter, line: str) -> int:
    """`splitter.sentence_count(line)`, faster for spaCy's Sentencizer rule (SpacySplitter), which
    walks the line's pieces (runs of non-white-space) token by token: the first token starts a
    sentence, and so does the first token that is not punctuation after a sentence-ending mark.

    A line without a mark is one sentence. A piece with a letter or digit and no mark acts on the
    walk as a white-space token does: right after a mark it starts a sentence (at its first token
    that is not punctuation) and clears the mark, otherwise it changes nothing. (Its tokens are
    pieces of it, so none is a mark and the one with the letter or digit is not punctuation.) A
    stretch of such pieces and white space therefore counts as one word, and each becomes " a "
    before the walk, which is left with the pieces around sentence ends. The line gets a leading
    space so that every stretch starts with white space (which lets re skip to it); a leading
    white-space token counts as the first token did."""
    patterns = _sentence_patterns() if isinstance(splitter, SpacySplitter) else None
    if patterns is None or not line:
        return splitter.sentence_count(line)
    ascii_marks, marks, stretch = patterns
    if not (any(map(line.__contains__, ascii_marks)) if line.isascii() else marks.search(line)):
        return 1
    return splitter.sentence_count(stretch.sub(" a ", " " + line))


@functools.cache
def _sentence_patterns() -> tuple[str, re.Pattern, re.Pattern] | None:
    """(the ASCII sentence-ending marks, a mark, a stretch as above: white space, then one or more pieces of
    letters, digits and common punctuation other than marks (with a letter or digit), each
    followed by white space or the end)."""
    import_spacy()  # without torch (see there)
    from spacy.pipeline.sentencizer import Sentencizer

    marks = set(Sentencizer.default_punct_chars)
    if any(len(c) != 1 or c.isalnum() or c == "_" for c in marks):  # the rule above would not hold
        return None
    common = set(",;:'\"()[]{}<>/-&%$#@*+=~^|\\`\u2018\u2019\u201c\u201d\u2013\u2014")
    others = re.escape("".join(sorted(common - marks)))
    piece = rf"[{others}]*+[^\W_][\w{others}]*+"
    return ("".join(sorted(c for c in marks if c.isascii())), re.compile(f"[{re.escape(''.join(sorted(marks)))}]"),
            re.compile(rf"\s\s*(?:{piece}(?:\s+|\Z))+"))


def _mentions_policy(lower: str) -> bool:
    """any(p in lower for p in _POLICY), looking for the cookie phrases only where "cookie" is."""
    return any(p in lower for p in _OTHER_POLICY) or ("cookie" in lower and any(p in lower for p in _COOKIE_POLICY))


@dataclass
class C4Quality:
    end_marks: str = ".?!\"'"
    min_words_per_line: int = 3
    min_num_sentences: int = 5
    max_word_length: int = 1000
    words_after_citations: bool = False  # TFDS counts a line's words after cutting citation markers
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True

    name = "c4"
    signals = ("c4_lines", "c4_lines_kept", "c4_sentences", "c4_lorem_ipsum", "c4_curly_bracket")

    def clean(self, text: str, lang: str | None) -> tuple[str, str | None, dict]:
        """(kept lines joined, the page rule that fired first or None, signals)."""
        spaced = uses_spaces(lang)
        splitter = splitter_for(lang)
        ends = tuple(self.end_marks) if spaced else _ALL_TERMINALS
        lines = text.splitlines()
        kept, sentences, lorem, curly, page_rule = [], 0, False, False, None
        # Only whether a line has min_words_per_line words matters: split(None, k - 1) finds out
        # without splitting the rest.
        enough = self.min_words_per_line - 1
        for line in lines:
            line = line.strip()
            if 0 < self.max_word_length < len(line) and max(map(len, line.split())) > self.max_word_length:
                continue
            counted = line  # the words are counted before citation markers are cut, or after
            if self.remove_citations and "[" in line:
                line = _CITATION.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith(ends) or line.endswith(_ELLIPSIS)):
                continue
            if self.words_after_citations:
                counted = line
            if enough >= 0 and (len(counted.split(None, enough)) if spaced else len(splitter.words(line))) <= enough:
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                lorem, page_rule = True, page_rule or "filter_lorem_ipsum"
            if self.filter_javascript and "javascript" in lower:
                continue
            if self.filter_curly_bracket and "{" in line:
                curly, page_rule = True, page_rule or "filter_curly_bracket"
            if self.filter_policy and _mentions_policy(lower):
                continue
            sentences += sentence_count(splitter, line)
            kept.append(line)
        return "\n".join(kept).strip(), page_rule, {"c4_lines": len(lines), "c4_lines_kept": len(kept),
                                                    "c4_sentences": sentences, "c4_lorem_ipsum": lorem,
                                                    "c4_curly_bracket": curly}

    def __call__(self, doc: dict) -> Decision:
        cleaned, page_rule, s = self.clean(doc["text"], doc.get("lang"))
        if page_rule:  # C4 ends the page at the first kept line with lorem ipsum or a curly bracket
            detail = "a kept line says lorem ipsum" if page_rule == "filter_lorem_ipsum" else "a kept line holds '{'"
            return Decision(False, f"{self.name}.{page_rule}", detail, s)
        if self.min_num_sentences > 0 and s["c4_sentences"] < self.min_num_sentences:
            return Decision(False, f"{self.name}.min_num_sentences",
                            f"c4_sentences={s['c4_sentences']} < {self.min_num_sentences}", s)
        return Decision(True, signals=s, text=cleaned)
