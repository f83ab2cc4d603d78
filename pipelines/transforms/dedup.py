"""Dedup on documents held in a PCollection, for tests, benchmarks and small in-memory uses.

The curation pipeline spills documents and deduplicates their compact records
(pipelines.transforms.deduplicate); these wrappers run that same Deduplicate, and the same
dedup.decide outcomes, on documents given whole, and join the outcomes back to them.
"""

import tempfile

import apache_beam as beam

from dedup.decide import kept_alone
from dedup.minhash import MinHasher
from pipelines.sources.records import Rejected
from pipelines.transforms.deduplicate import Deduplicate
from pipelines.transforms.near_dedup import NearClusters
from pipelines.transforms.spill import Sketcher, doc_ref, exact_summary
from pipelines.transforms.stages import REJECTS


def _with_outcome(element):
    _, grouped = element
    outcomes = list(grouped["outcome"])
    for doc in grouped["doc"]:
        outcome = outcomes[0] if outcomes else kept_alone(doc["id"])
        if outcomes or "dedup_cluster" not in doc:
            size = outcome.size if outcomes else int(doc.get("dedup_cluster_size") or 1)
            doc = {**doc, "dedup_cluster": outcome.cluster, "dedup_cluster_size": size}
        if outcome.stage is None:
            yield doc
        else:
            yield beam.pvalue.TaggedOutput(REJECTS, Rejected(doc, outcome.stage, outcome.reason, outcome.detail,
                                                             duplicate_of=outcome.duplicate_of).row())


class _DedupDocs(beam.PTransform):
    """docs -> (kept, rejects, index rows or None). by_text: documents with the same text are exact
    duplicates; else each document is its own exact cluster, weighted by its dedup_cluster_size."""

    def __init__(self, mode: str, sketcher: Sketcher, by_text: bool, near=None, fanout: int = 16,
                 write_index: bool = False):
        super().__init__()
        self.mode, self.sketcher, self.by_text, self.near = mode, sketcher, by_text, near
        self.fanout, self.write_index = fanout, write_index

    def expand(self, docs):
        sketcher, by_text = self.sketcher, self.by_text

        def ref(doc):
            r = doc_ref({"lang": None, **doc}, "", True, False, 0)
            return r if by_text else r._replace(text_hash=doc["id"])

        refs = docs | "Refs" >> beam.Map(ref)
        summaries = docs | "Summaries" >> beam.Map(
            lambda d: ((ref(d).text_hash), exact_summary(d, ref(d), sketcher)))
        decided = (refs, summaries) | "Deduplicate" >> Deduplicate(self.mode, self.near, self.fanout,
                                                                   write_index=self.write_index)
        out = ({"doc": docs | "ById" >> beam.Map(lambda d: (d["id"], d)),
                "outcome": decided.decisions | "OutcomeById" >> beam.Map(lambda kv: kv[1])}
               | "JoinOutcomes" >> beam.CoGroupByKey()
               | "Apply" >> beam.ParDo(_with_outcome).with_outputs(REJECTS, main="kept"))
        return out.kept, out[REJECTS], decided.index_rows


class ExactDedup(beam.PTransform):
    """docs -> (kept, rejects): documents with the same text, all but the smallest id rejected."""

    def __init__(self, fanout: int = 16):
        super().__init__()
        self.fanout = fanout

    def expand(self, docs):
        kept, rejects, _ = docs | _DedupDocs("exact", Sketcher(), True, fanout=self.fanout)
        return kept, rejects


class NearDedup(beam.PTransform):
    """docs -> (kept, rejects, index rows or None): MinHash near dedup, each document its own node
    weighted by its dedup_cluster_size (run ExactDedup first for exact copies). See NearClusters."""

    def __init__(self, hasher: MinHasher, bands: int, rows: int, verify: str | None = None,
                 verify_threshold: float | None = None, components: str = "single", max_rounds: int = 20,
                 fanout: int = 16, index_files=None, write_index: bool = False):
        super().__init__()
        self.sketcher = Sketcher(hasher, bands, rows, keep_signature=verify is not None or write_index,
                                 keep_shingles=verify == "exact")
        # Band files go to a folder of the process's own; NearDedup is for tests and benchmarks.
        work_dir = tempfile.mkdtemp(prefix="near-dedup-")
        self.near = NearClusters(work_dir, bands, rows, verify, verify_threshold, components, max_rounds, fanout,
                                 index_files)
        self.fanout, self.write_index = fanout, write_index

    def expand(self, docs):
        return docs | _DedupDocs("minhash", self.sketcher, False, self.near, self.fanout, self.write_index)


def decision(row: dict) -> tuple:
    """(id, the kept id of its cluster, the cluster's size, the reject reason or None) of a document
    that a dedup stage kept or rejected."""
    return (row["id"], row.get("duplicate_of") or row.get("dedup_cluster") or row["id"],
            int(row.get("dedup_cluster_size") or 1), row.get("reason"))


class Decisions(beam.PTransform):
    """(kept, rejects) of ExactDedup or NearDedup -> one `decision` tuple per document: what dedup
    decided, in a form that benchmarks and tests compare and score."""

    def expand(self, pcolls):
        return pcolls | "Both" >> beam.Flatten() | "Decision" >> beam.Map(decision)
