"""Beam counters for the run's accounting, and reading them back into stats.json.

A counter name is an event and its labels, `event|key=value|key=value`, in one namespace, so the
driver can rebuild every count after the run (docs/design.md section 7: each drop reason is a counter). Events:

  records      source                 every unit a reader produced (document, reject or quarantine)
  files        source                 input files opened
  stage_in     stage, source          documents entering a stage
  stage_out    stage, source          documents leaving it
  stage_out_bytes  stage, source      their UTF-8 text bytes (raw bytes before extraction); the bytes
                                      into a stage are those out of the one before (pipelines.accounting)
  records_bytes  source               bytes of the documents the readers produced (into the read stage)
  identified   lang, source           documents leaving language ID, before the quality filters
  identified_bytes  lang, source      their text bytes
  rejected     stage, reason, source  documents a stage dropped (one rejects row each)
  quarantined  stage, error, source   records that could not be read (one quarantine row each)
  kept         lang, source           documents written to the shards
  kept_bytes   lang, source           UTF-8 bytes of their text
"""

from collections import defaultdict

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.transforms.worker_exit import exit_fast_in_workers

NAMESPACE = "curate"


def counter_name(event: str, **labels: str) -> str:
    return "|".join([event] + [f"{k}={v}" for k, v in sorted(labels.items())])


def parse_counter_name(name: str) -> tuple[str, dict]:
    event, *parts = name.split("|")
    return event, dict(part.split("=", 1) for part in parts)


class Counters:
    """Counts summed in memory and handed to Beam in one call per counter per bundle: a Beam
    counter call per element would cost more than the cheap stages themselves."""

    def __init__(self):
        self._counters: dict = {}
        self._pending: dict = defaultdict(int)

    def inc(self, event: str, n: int = 1, **labels) -> None:
        self._pending[(event, *labels.items())] += n

    def flush(self) -> None:
        for key, n in self._pending.items():
            counter = self._counters.get(key)
            if counter is None:
                event, *labels = key
                counter = self._counters[key] = Metrics.counter(NAMESPACE, counter_name(event, **dict(labels)))
            counter.inc(n)
        self._pending.clear()


def doc_bytes(doc: dict) -> int:
    """A document's size: its raw content before extraction, else its UTF-8 text (ASCII text is
    measured without encoding it: str.isascii is a flag lookup)."""
    if doc.get("content") is not None:
        return len(doc["content"])
    text = doc.get("text") or ""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class CountingDoFn(beam.DoFn):
    """A DoFn with `self.counters`, flushed at the end of every bundle."""

    # Every stage counts through these four (and count_out), so the accounting contract that
    # pipelines.accounting checks has one implementation.
    def count_in(self, stage: str, doc: dict) -> None:
        self.counters.inc("stage_in", stage=stage, source=doc["source"])

    def count_rejected(self, row: dict) -> dict:
        """A reject row (schemas.REJECT_SCHEMA) leaving its stage; returns it."""
        self.counters.inc("rejected", stage=row["stage"], reason=row["reason"], source=row["source"])
        return row

    def count_quarantined(self, row: dict) -> dict:
        """A quarantine row (schemas.QUARANTINE_SCHEMA); returns it."""
        self.counters.inc("quarantined", stage=row["stage"], error=row["error"], source=row["source"])
        return row

    def count_kept(self, doc: dict) -> None:
        """A document bound for the output shards."""
        self.counters.inc("kept", lang=doc["lang"], source=doc["source"])
        self.counters.inc("kept_bytes", doc_bytes(doc), lang=doc["lang"], source=doc["source"])

    def count_out(self, stage: str, doc: dict, size: int | None = None) -> int:
        """A document leaving a stage, with its bytes (`size` if already measured, else measured here,
        once per stage, on the way out); returns them."""
        size = doc_bytes(doc) if size is None else size
        self.counters.inc("stage_out", stage=stage, source=doc["source"])
        self.counters.inc("stage_out_bytes", size, stage=stage, source=doc["source"])
        return size

    def setup(self):
        self.counters = Counters()
        exit_fast_in_workers()

    def start_bundle(self):
        self.counters = Counters()  # nothing left over from a bundle that failed

    def finish_bundle(self):
        self.counters.flush()


def query_counters(result) -> list[tuple[str, dict, int]]:
    """(event, labels, value) for every counter of the run; committed values where the runner
    has them, attempted otherwise."""
    from apache_beam.metrics.metric import MetricsFilter

    out = []
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        event, labels = parse_counter_name(counter.key.metric.name)
        out.append((event, labels, int(value or 0)))
    # A counter can be reported once per step that touched it; sum them.
    merged: dict = defaultdict(int)
    for event, labels, value in out:
        merged[(event, tuple(sorted(labels.items())))] += value
    return [(event, dict(labels), value) for (event, labels), value in sorted(merged.items())]
