"""Dedup on documents held in a PCollection, for tests, benchmarks and small in-memory uses.

The curation pipeline spills documents and deduplicates compact records of them
(pipelines.transforms.deduplicate); these wrappers run that same Deduplicate, and the same
dedup.decide outcomes, on documents given whole.
"""

import atexit
import shutil
import tempfile

import apache_beam as beam

from dedup.decide import Outcome, decide
from dedup.minhash import MinHasher
from pipelines.records import Rejected
from pipelines.transforms.deduplicate import Deduplicate
from pipelines.transforms.near_dedup import NearClusters
from pipelines.transforms.spill import EVIDENCE, NODES, SUMMARIES, DedupPlan, Sketcher
from pipelines.transforms.stages import REJECTS


class _Outputs(beam.DoFn):
    def __init__(self, plan: DedupPlan):
        self.plan = plan

    def process(self, doc):
        yield from self.plan.outputs({"lang": None, **doc}, 0)


def _apply(doc, clusters, plan: DedupPlan):
    entry = clusters.get(plan.text_hash(doc))
    weight = int(doc.get("dedup_cluster_size") or 1)
    outcome = decide(doc["id"], *entry) if entry else Outcome(None, None, doc["id"], 1 if plan.by_text else weight)
    doc = {**doc, "dedup_cluster": outcome.cluster, "dedup_cluster_size": outcome.size}
    if outcome.stage is None:
        yield doc
    else:
        yield beam.pvalue.TaggedOutput(REJECTS, Rejected(doc, outcome.stage, outcome.reason, outcome.detail,
                                                         duplicate_of=outcome.duplicate_of).row())


class _DedupDocs(beam.PTransform):
    """docs -> (kept, rejects)."""

    def __init__(self, mode: str, plan: DedupPlan, near=None):
        super().__init__()
        self.mode, self.plan, self.near = mode, plan, near

    def expand(self, docs):
        out = docs | "DedupInputs" >> beam.ParDo(_Outputs(self.plan)).with_outputs(SUMMARIES, NODES, EVIDENCE)
        decided = (out[SUMMARIES], out[NODES], out[EVIDENCE]) | "Deduplicate" >> Deduplicate(self.mode, self.near)
        applied = docs | "Apply" >> beam.FlatMap(_apply, beam.pvalue.AsDict(decided.clusters), self.plan).with_outputs(
            REJECTS, main="kept")
        return applied.kept, applied[REJECTS]


class ExactDedup(beam.PTransform):
    """docs -> (kept, rejects): documents with the same text, all but the smallest id rejected."""

    def expand(self, docs):
        return docs | _DedupDocs("exact", DedupPlan(Sketcher()))


class NearDedup(beam.PTransform):
    """docs -> (kept, rejects): MinHash near dedup, each document its own node weighted by its
    dedup_cluster_size (run ExactDedup first for exact copies). See NearClusters."""

    def __init__(self, hasher: MinHasher, bands: int, rows: int, verify: str | None = None,
                 verify_threshold: float | None = None, components: str = "single", max_rounds: int = 20,
                 fanout: int = 16):
        super().__init__()
        sketcher = Sketcher(hasher, bands, rows, keep_signature=verify is not None, keep_shingles=verify == "exact")
        self.plan = DedupPlan(sketcher, verify=verify is not None, by_text=False)
        # Band files go to a folder of the process's own, removed when it exits; NearDedup is for
        # tests and benchmarks (a run keeps its band files under its output's _work/).
        work = tempfile.mkdtemp(prefix="near-dedup-")
        atexit.register(shutil.rmtree, work, ignore_errors=True)
        self.near = NearClusters(work, bands, rows, verify, verify_threshold, components, max_rounds, fanout)

    def expand(self, docs):
        return docs | _DedupDocs("minhash", self.plan, self.near)


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
