"""The filter interface of DESIGN.md section 3: `document -> Decision(keep, reason, signals)`.

A filter computes its signals once and returns them whether it keeps the document or not; the
chain stops at the first drop, so later filters' signals stay null for a dropped document.
Reasons are `<filter name>.<rule>`, where the rule is the name of the threshold in the preset, so a
reject row, a counter and a config key read the same.
"""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Decision:
    keep: bool
    reason: str | None = None  # "<filter>.<rule>" when dropped
    detail: str | None = None  # the value against the threshold, e.g. "word_count=12 < 50"
    signals: dict = field(default_factory=dict)


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
        for f in self.filters:
            decision = f(doc)
            signals.update(decision.signals)
            if not decision.keep:
                return Decision(False, decision.reason, decision.detail, signals)
        return Decision(True, signals=signals)
