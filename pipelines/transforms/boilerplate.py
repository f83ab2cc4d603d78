"""Boilerplate-line removal in Beam (logic in dedup.lines).

Each document contributes its distinct line keys; a combiner counts documents per key before the
shuffle; keys seen in more than `max_docs` documents form a side input (one entry a common line:
a million common lines cost a worker about 100 MB), and each document drops those lines. A
document left with no text is rejected.
"""

import apache_beam as beam

from dedup.lines import distinct_line_keys, strip_lines
from pipelines.sources.records import Rejected
from pipelines.transforms.metrics import CountingDoFn
from pipelines.transforms.stages import REJECTS

STAGE = "boilerplate"


class _Strip(CountingDoFn):
    def process(self, doc, common):
        doc = dict(doc)
        source = doc["source"]
        self.counters.inc("stage_in", stage=STAGE, source=source)
        text, removed = strip_lines(doc["text"], common)
        doc["signals"] = {**(doc.get("signals") or {}), "boilerplate_lines": removed}
        if removed:
            doc["text"] = text
        if not text.strip():
            self.counters.inc("rejected", stage=STAGE, reason="only_boilerplate", source=source)
            yield beam.pvalue.TaggedOutput(REJECTS, Rejected(
                doc, STAGE, "only_boilerplate", f"all {removed} lines are common to many documents").row())
            return
        self.count_out(STAGE, doc)
        yield doc


class RemoveBoilerplateLines(beam.PTransform):
    """docs -> (docs without common lines, rejects)."""

    def __init__(self, max_docs: int):
        super().__init__()
        self.max_docs = max_docs

    def expand(self, docs):
        max_docs = self.max_docs
        common = (docs
                  | "LineKeys" >> beam.FlatMap(lambda d: [(k, 1) for k in distinct_line_keys(d["text"])])
                  | "DocsPerLine" >> beam.CombinePerKey(sum)
                  | "Common" >> beam.Filter(lambda kv: kv[1] > max_docs))
        out = docs | "StripLines" >> beam.ParDo(_Strip(), common=beam.pvalue.AsDict(common)).with_outputs(
            REJECTS, main="kept")
        return out.kept, out[REJECTS]
