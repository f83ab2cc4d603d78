"""Bad words: C4's filter over the LDNOOBW lists ("List of Dirty, Naughty, Obscene and Otherwise Bad
Words"), one file per language in a configurable folder.

As in C4 and datatrove's C4BadWordsFilter: the lowercased text is searched for any listed word,
flanked by non-word characters (or the text's ends); for Chinese, Japanese and Thai, which have no
spaces, any occurrence counts, with the few listed subwords that are common innocent parts of
words allowed (datatrove's allowlist). The signal is the number of matches; a document with more
than `max_badwords` of them (default 0) is dropped. A language without a list abstains.
The search runs with an Aho-Corasick automaton rather than one regex alternation of hundreds of
words; the word-boundary test is the same.
"""

import os
from dataclasses import dataclass

from filters.base import Decision
from filters.words import uses_spaces

# Listed subwords that are ordinary parts of words in languages without spaces (datatrove, C4).
ALLOWLIST = {"ja": {"sm", "グロ", "女の子"}, "zh": {"性"}}
# lid.176 codes whose LDNOOBW file has another name.
LIST_NAMES = {"fil": "fil", "tl": "fil", "no": "no", "nb": "no"}


def _is_word_char(ch: str) -> bool:
    """Python's \\w: letters, digits (any script) and the underscore."""
    return ch == "_" or ch.isalnum()


@dataclass
class BadWords:
    lists_dir: str = ""
    max_badwords: int = 0

    name = "badwords"
    signals = ("badwords",)

    def __post_init__(self):
        self._automata: dict = {}

    def __getstate__(self):  # automata are rebuilt on each worker
        return {k: v for k, v in self.__dict__.items() if k != "_automata"}

    def __setstate__(self, state):
        self.__dict__.update(state, _automata={})

    def _automaton(self, lang: str):
        if lang not in self._automata:
            import ahocorasick

            path = os.path.join(self.lists_dir, LIST_NAMES.get(lang, lang))
            automaton = None
            if os.path.exists(path):
                with open(path, encoding="utf-8") as fh:
                    words = {line.strip().lower() for line in fh if line.strip()} - ALLOWLIST.get(lang, set())
                if words:
                    automaton = ahocorasick.Automaton()
                    for word in words:
                        automaton.add_word(word, len(word))
                    automaton.make_automaton()
            self._automata[lang] = automaton
        return self._automata[lang]

    def count(self, text: str, lang: str | None) -> int | None:
        automaton = self._automaton(lang or "en")
        if automaton is None:
            return None
        lower = text.lower()
        anywhere = not uses_spaces(lang)
        found = 0
        for end, length in automaton.iter(lower):
            start = end - length + 1
            if anywhere or ((start == 0 or not _is_word_char(lower[start - 1]))
                            and (end + 1 == len(lower) or not _is_word_char(lower[end + 1]))):
                found += 1
        return found

    def __call__(self, doc: dict) -> Decision:
        found = self.count(doc["text"], doc.get("lang"))
        signals = {"badwords": found}
        if found is not None and found > self.max_badwords:
            return Decision(False, f"{self.name}.max_badwords", f"badwords={found} > {self.max_badwords}", signals)
        return Decision(True, signals=signals)
