"""Gopher's quality rules (Rae et al. 2021, appendix A), as datatrove's GopherQualityFilter applies
them: same words (spaCy tokens, filters.words), same order, same comparisons.

Words are all tokens; the length rules count only tokens with a character outside punctuation.
Scripts: every rule applies to space-delimited languages. Chinese, Japanese and Thai are split by
their segmenters; the mean-word-length rule abstains for them (their words are one to three
characters by nature). The stop-word rule needs a stop-word list for the language (English:
Gopher's eight words; others: stopwords-iso) and abstains without one.
"""

from dataclasses import dataclass

import numpy as np

from filters.base import Decision
from filters.rules import check
from filters.stopwords import stop_words_for
from filters.text import word_columns
from filters.words import uses_spaces, words_of


@dataclass
class GopherQuality:
    min_doc_words: int = 50
    max_doc_words: int = 100_000
    min_avg_word_length: float = 3
    max_avg_word_length: float = 10
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    min_alpha_words_ratio: float = 0.8  # datatrove: max_non_alpha_words_ratio (a minimum, despite the name)
    min_stop_words: int = 2

    name = "gopher_quality"
    signals = ("gopher_word_count", "gopher_mean_word_length", "gopher_hash_ratio", "gopher_ellipsis_ratio",
               "gopher_bullet_lines_ratio", "gopher_ellipsis_lines_ratio", "gopher_alpha_words_ratio",
               "gopher_stop_words")

    def measure(self, text: str, lang: str | None) -> dict:
        words = words_of(text, lang)
        n_words = len(words)
        columns = word_columns(words)
        content = ~columns.symbol  # words with a character outside punctuation
        n_content = int(np.count_nonzero(content))
        lines = text.splitlines() or [""]
        stop_words = stop_words_for(lang)
        return {
            "gopher_word_count": n_content,
            "gopher_mean_word_length": (int(columns.lengths[content].sum()) / n_content
                                        if n_content and uses_spaces(lang) else None),
            "gopher_hash_ratio": text.count("#") / n_words if n_words else None,
            "gopher_ellipsis_ratio": (text.count("...") + text.count("\u2026")) / n_words if n_words else None,
            "gopher_bullet_lines_ratio": sum(line.lstrip().startswith(("\u2022", "-")) for line in lines) / len(lines),
            "gopher_ellipsis_lines_ratio": sum(line.rstrip().endswith(("...", "\u2026")) for line in lines) / len(lines),
            "gopher_alpha_words_ratio": (int(np.count_nonzero(columns.alpha)) / n_words
                                         if n_words else None),
            "gopher_stop_words": len(stop_words.intersection(words)) if stop_words is not None else None,
        }

    def __call__(self, doc: dict) -> Decision:
        s = self.measure(doc["text"], doc.get("lang"))
        return check(self, s, (
            ("min_doc_words", "gopher_word_count", "<"),
            ("max_doc_words", "gopher_word_count", ">"),
            ("min_avg_word_length", "gopher_mean_word_length", "<"),
            ("max_avg_word_length", "gopher_mean_word_length", ">"),
            ("max_symbol_word_ratio", "gopher_hash_ratio", ">"),
            ("max_symbol_word_ratio", "gopher_ellipsis_ratio", ">"),
            ("max_bullet_lines_ratio", "gopher_bullet_lines_ratio", ">"),
            ("max_ellipsis_lines_ratio", "gopher_ellipsis_lines_ratio", ">"),
            ("min_alpha_words_ratio", "gopher_alpha_words_ratio", "<"),
            ("min_stop_words", "gopher_stop_words", "<"),
        ))
