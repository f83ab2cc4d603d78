"""Boilerplate-line removal as a stage (logic in dedup.lines).

The line keys of the documents dedup keeps are counted per document by a combiner before the
shuffle (pipelines.transforms.deduplicate); keys seen in more than `boilerplate_lines` documents
reach every worker as a side input (one entry a common line: a million common lines cost a worker
about 100 MB), and this stage drops those lines from each document as its row is written out. A
document left with no text is rejected.
"""

from dedup.lines import strip_lines
from pipelines.records import Rejected
from pipelines.transforms.stages import Stage


class StripBoilerplate(Stage):
    name = "boilerplate"

    def __init__(self):
        self.common = {}  # line key -> documents; set from the side input before each use

    def apply(self, doc):
        text, removed = strip_lines(doc["text"], self.common)
        doc["signals"] = {**(doc.get("signals") or {}), "boilerplate_lines": removed}
        if removed:
            doc["text"] = text
        if not text.strip():
            return Rejected(doc, self.name, "only_boilerplate", f"all {removed} lines are common to many documents")
        return doc
