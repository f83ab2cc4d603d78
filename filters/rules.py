"""Threshold rules over computed signals: the decision half of every rule family.

A rule is (threshold attribute, signal, comparison). It drops the document when the signal and the
threshold are both set and the comparison holds; a threshold of 0 or null turns the rule off, as in
datatrove, and a null signal means the rule abstains for this document. The reason is
`<filter>.<threshold attribute>` and the detail shows the value against the threshold.
"""

import operator

from filters.base import Decision

_OPS = {"<": operator.lt, ">": operator.gt}


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def check(owner, signals: dict, rules, text: str | None = None) -> Decision:
    for threshold_name, signal, op in rules:
        threshold = getattr(owner, threshold_name)
        value = signals.get(signal)
        if threshold and value is not None and _OPS[op](value, threshold):
            return Decision(False, f"{owner.name}.{threshold_name}", f"{signal}={_fmt(value)} {op} {threshold}",
                            signals)
    return Decision(True, signals=signals, text=text)
