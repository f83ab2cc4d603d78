"""The filter interface of docs/design.md section 3: `document -> Decision(keep, reason, signals)`.

A filter computes its signals once and returns them whether it keeps the document or not; the
chain stops at the first drop, so later filters' signals stay null for a dropped document. A filter
that cleans rather than judges whole documents (C4's line filter) returns the cleaned text, which
the filters after it see.
Reasons are `<filter name>.<rule>`, where the rule is the name of the threshold in the preset, so a
reject row, a counter and a config key read the same.
"""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Decision:
    keep: bool
    reason: str | None = None  # "<filter>.<rule>" when dropped
    detail: str | None = None  # the value against the threshold, e.g. "gopher_word_count=12 < 50"
    signals: dict = field(default_factory=dict)
    text: str | None = None  # the document's new text, when the filter changed it


class Filter(Protocol):
    name: str
    signals: tuple[str, ...]  # names in schemas.signals.SIGNALS this filter writes

    def __call__(self, doc: dict) -> Decision: ...


class FilterChain:
    """Filters applied in order; the first drop decides."""

    def __init__(self, filters: list[Filter]):
        self.filters = list(filters)

    @property
    def signals(self) -> tuple[str, ...]:
        return tuple(name for f in self.filters for name in f.signals)

    def __call__(self, doc: dict) -> Decision:
        signals: dict = {}
        text = None
        for f in self.filters:
            decision = f(doc if text is None else {**doc, "text": text})
            signals.update(decision.signals)
            if not decision.keep:
                return Decision(False, decision.reason, decision.detail, signals, text)
            if decision.text is not None:
                text = decision.text
        return Decision(True, signals=signals, text=text)
