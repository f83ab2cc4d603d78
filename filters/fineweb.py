"""FineWeb's own quality rules (Penedo et al. 2024), as datatrove's FineWebQualityFilter applies them.

Over non-empty lines: the share ending in terminal punctuation (Unicode sentence terminals, so
every script is judged by its own marks), the share of short lines, the characters in repeated
lines; and newlines per word. Scripts: short lines are measured in characters, and a 30-character
line of Chinese or Japanese says as much as a long English one, so for languages without spaces
the short-line rule uses `short_line_length_cjk`.
"""

from dataclasses import dataclass, replace

from filters.base import Decision
from filters.gopher_repetition import duplicates
from filters.rules import check
from filters.text import TERMINAL_PUNCTUATION
from filters.words import uses_spaces, words_of


@dataclass
class FineWebQuality:
    min_line_punct_ratio: float = 0.12
    line_punct_exclude_zero: bool = False
    max_short_line_ratio: float = 0.67
    short_line_length: int = 30
    short_line_length_cjk: int = 10
    max_char_dup_ratio: float = 0.01
    max_newline_ratio: float = 0.3

    name = "fineweb_quality"
    signals = ("fineweb_line_punct_ratio", "fineweb_short_line_ratio", "fineweb_char_dup_ratio",
               "fineweb_newline_ratio")

    def measure(self, text: str, lang: str | None) -> dict:
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return {}
        short = self.short_line_length if uses_spaces(lang) else self.short_line_length_cjk
        chars = len(text) - text.count("\n")
        words = words_of(text, lang)
        return {
            # a line's last character in the set (terminals are single characters): endswith(a tuple)
            # would try each of them
            "fineweb_line_punct_ratio": sum(line[-1] in TERMINAL_PUNCTUATION for line in lines) / len(lines),
            "fineweb_short_line_ratio": sum(len(line) <= short for line in lines) / len(lines),
            "fineweb_char_dup_ratio": duplicates(lines)[1] / chars if chars else None,
            "fineweb_newline_ratio": text.count("\n") / len(words) if words else None,
        }

    def __call__(self, doc: dict) -> Decision:
        s = self.measure(doc["text"], doc.get("lang"))
        if not s:
            return Decision(False, f"{self.name}.empty", "no non-empty line")
        judged = dict(s)
        if self.line_punct_exclude_zero and s["fineweb_line_punct_ratio"] == 0:
            judged["fineweb_line_punct_ratio"] = None  # the rule abstains; the signal is still recorded
        decision = check(self, judged, (
            ("min_line_punct_ratio", "fineweb_line_punct_ratio", "<"),
            ("max_short_line_ratio", "fineweb_short_line_ratio", ">"),
            ("max_char_dup_ratio", "fineweb_char_dup_ratio", ">"),
            ("max_newline_ratio", "fineweb_newline_ratio", ">"),
        ))
        return replace(decision, signals=s)
