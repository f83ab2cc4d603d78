"""Gopher's quality rules (Rae et al. 2021, appendix A), in datatrove's order and semantics.

Counts over all tokens (punctuation included) for the '#' and alphabetic ratios, over words
(tokens with a non-punctuation character) for the length rules, as datatrove's
GopherQualityFilter does. Languages without spaces between words abstain: their signals are null
and the document is kept. The stop-word rule runs only for languages with a stop-word list.
"""

from dataclasses import dataclass, field

from filters.base import Decision
from filters.words import has_letter, splits_on_spaces, words_and_punctuation

GOPHER_STOP_WORDS = {"en": ("the", "be", "to", "of", "and", "that", "have", "with")}


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
    stop_words: dict = field(default_factory=lambda: dict(GOPHER_STOP_WORDS))

    def __post_init__(self):
        self._stop_sets = {lang: frozenset(words) for lang, words in self.stop_words.items()}

    name = "gopher_quality"
    signals = ("gopher_word_count", "gopher_mean_word_length", "gopher_hash_ratio", "gopher_ellipsis_ratio",
               "gopher_bullet_lines_ratio", "gopher_ellipsis_lines_ratio", "gopher_alpha_words_ratio",
               "gopher_stop_words")

    def measure(self, text: str, lang: str | None) -> dict:
        """The signals, or {} when the language has no word split."""
        if not splits_on_spaces(lang):
            return {}
        words, n_punctuation = words_and_punctuation(text)
        lines = text.splitlines() or [""]
        n_tokens = len(words) + n_punctuation
        stop_words = self._stop_sets.get(lang)
        return {
            "gopher_word_count": len(words),
            "gopher_mean_word_length": sum(map(len, words)) / len(words) if words else None,
            "gopher_hash_ratio": text.count("#") / n_tokens if n_tokens else None,
            "gopher_ellipsis_ratio": (text.count("...") + text.count("\u2026")) / n_tokens if n_tokens else None,
            "gopher_bullet_lines_ratio": sum(line.lstrip().startswith(("\u2022", "-")) for line in lines) / len(lines),
            "gopher_ellipsis_lines_ratio": sum(line.rstrip().endswith(("...", "\u2026")) for line in lines) / len(lines),
            "gopher_alpha_words_ratio": sum(map(has_letter, words)) / n_tokens if n_tokens else None,
            "gopher_stop_words": sum(w in stop_words for w in words) if stop_words else None,
        }

    def __call__(self, doc: dict) -> Decision:
        s = self.measure(doc["text"], doc.get("lang"))
        if not s:
            return Decision(True)
        checks = (
            ("min_doc_words", _below(s["gopher_word_count"], self.min_doc_words), f"word_count={s['gopher_word_count']}"),
            ("max_doc_words", _above(s["gopher_word_count"], self.max_doc_words), f"word_count={s['gopher_word_count']}"),
            ("min_avg_word_length", _below(s["gopher_mean_word_length"], self.min_avg_word_length),
             f"mean_word_length={_fmt(s['gopher_mean_word_length'])}"),
            ("max_avg_word_length", _above(s["gopher_mean_word_length"], self.max_avg_word_length),
             f"mean_word_length={_fmt(s['gopher_mean_word_length'])}"),
            ("max_symbol_word_ratio", _above(s["gopher_hash_ratio"], self.max_symbol_word_ratio),
             f"hash_ratio={_fmt(s['gopher_hash_ratio'])}"),
            ("max_symbol_word_ratio", _above(s["gopher_ellipsis_ratio"], self.max_symbol_word_ratio),
             f"ellipsis_ratio={_fmt(s['gopher_ellipsis_ratio'])}"),
            ("max_bullet_lines_ratio", _above(s["gopher_bullet_lines_ratio"], self.max_bullet_lines_ratio),
             f"bullet_lines_ratio={_fmt(s['gopher_bullet_lines_ratio'])}"),
            ("max_ellipsis_lines_ratio", _above(s["gopher_ellipsis_lines_ratio"], self.max_ellipsis_lines_ratio),
             f"ellipsis_lines_ratio={_fmt(s['gopher_ellipsis_lines_ratio'])}"),
            ("min_alpha_words_ratio", _below(s["gopher_alpha_words_ratio"], self.min_alpha_words_ratio),
             f"alpha_words_ratio={_fmt(s['gopher_alpha_words_ratio'])}"),
            ("min_stop_words", _below(s["gopher_stop_words"], self.min_stop_words),
             f"stop_words={s['gopher_stop_words']}"),
        )
        for rule, failed, value in checks:
            if failed:
                threshold = getattr(self, rule)
                return Decision(False, f"{self.name}.{rule}", f"{value}, threshold {threshold}", s)
        return Decision(True, signals=s)


def _below(value, threshold) -> bool:
    """A threshold of 0 (or null) turns its rule off, as in datatrove."""
    return value is not None and bool(threshold) and value < threshold


def _above(value, threshold) -> bool:
    return value is not None and bool(threshold) and value > threshold


def _fmt(value) -> str:
    return "null" if value is None else f"{value:.3f}"
