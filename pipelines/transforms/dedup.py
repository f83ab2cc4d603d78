"""Exact deduplication in Beam, without giant groups (logic in dedup.exact).

1. Each document is keyed by (text hash, salt), where the salt is a hash of its id modulo `fanout`.
2. A combiner computes each text's cluster (kept id, size); it pre-aggregates before the shuffle.
3. Clusters of size > 1 are copied to all `fanout` salts and joined with the documents, so the
   copies of a text repeated N times meet their cluster in `fanout` groups of about N/fanout.
Singletons skip step 3's copies: a document whose key has no cluster record is unique.
"""

import apache_beam as beam

from dedup.exact import Cluster, content_hash, merge_clusters, salt
from pipelines.sources.records import Rejected
from pipelines.transforms.metrics import CountingDoFn
from pipelines.transforms.stages import REJECTS

STAGE = "dedup"


class MergeClusters(beam.CombineFn):
    def create_accumulator(self):
        return None

    def add_input(self, acc, cluster):
        return cluster if acc is None else merge_clusters([acc, cluster])

    def merge_accumulators(self, accs):
        clusters = [a for a in accs if a is not None]
        return merge_clusters(clusters) if clusters else None

    def extract_output(self, acc):
        return acc


class Decide(CountingDoFn):
    """One join group -> kept documents (main) and duplicates (rejects), with cluster id and size."""

    def process(self, element):
        _, grouped = element
        clusters = list(grouped["cluster"])
        cluster = clusters[0] if clusters else None
        for doc in grouped["docs"]:
            doc = dict(doc)
            source = doc["source"]
            self.counters.inc("stage_in", stage=STAGE, source=source)
            if cluster is None:
                doc["dedup_cluster"], doc["dedup_cluster_size"] = doc["id"], 1
            else:
                doc["dedup_cluster"], doc["dedup_cluster_size"] = cluster.keep_id, cluster.size
            if cluster is None or doc["id"] == cluster.keep_id:
                self.count_out(STAGE, doc)
                yield doc
            else:
                self.counters.inc("rejected", stage=STAGE, reason="exact_duplicate", source=source)
                rejected = Rejected(doc, STAGE, "exact_duplicate", f"same text as {cluster.keep_id} "
                                    f"({cluster.size} copies)", duplicate_of=cluster.keep_id)
                yield beam.pvalue.TaggedOutput(REJECTS, rejected.row())


class ExactDedup(beam.PTransform):
    """docs -> (kept, rejects)."""

    def __init__(self, fanout: int = 16):
        super().__init__()
        self.fanout = fanout

    def expand(self, docs):
        fanout = self.fanout
        keyed = docs | "HashText" >> beam.Map(lambda d: ((content_hash(d["text"]), salt(d["id"], fanout)), d))
        duplicated = (
            keyed
            | "ClusterOf" >> beam.Map(lambda kv: (kv[0][0], Cluster(kv[1]["id"], 1)))
            | "Clusters" >> beam.CombinePerKey(MergeClusters())
            | "OnlyDuplicated" >> beam.Filter(lambda kv: kv[1].size > 1)
            | "CopyToSalts" >> beam.FlatMap(lambda kv: [((kv[0], s), kv[1]) for s in range(fanout)])
        )
        out = ({"docs": keyed, "cluster": duplicated}
               | "Join" >> beam.CoGroupByKey()
               | "Decide" >> beam.ParDo(Decide()).with_outputs(REJECTS, main="kept"))
        return out.kept, out[REJECTS]


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


def _repoint(element):
    _, grouped = element
    final = list(grouped["final"])
    for row in grouped["rejects"]:
        if final:
            keeper, size = final[0]
            row = {**row, "duplicate_of": keeper, "dedup_cluster": keeper, "dedup_cluster_size": size,
                   "detail": f"{row['detail']}, itself a near duplicate of {keeper}"}
        yield row


def _final_keeper(element):
    doc_id, grouped = element
    later = list(grouped["later"])
    if later and list(grouped["keeper"]):
        yield doc_id, later[0]


class RepointDuplicates(beam.PTransform):
    """(exact rejects, documents kept by exact dedup, near dedup's rejects) -> the exact rejects, where
    each `duplicate_of` names the document kept in the end: when near dedup (or an index) removes an
    exact cluster's keeper, its copies point to the near cluster's keeper instead. Only keepers with
    copies are looked up, and the join back is salted like ExactDedup's, so no giant group forms."""

    def __init__(self, fanout: int = 16):
        super().__init__()
        self.fanout = fanout

    def expand(self, pcolls):
        exact_rejects, exact_kept, later_rejects = pcolls
        fanout = self.fanout
        keepers = (exact_kept | "WithCopies" >> beam.Filter(lambda d: (d.get("dedup_cluster_size") or 1) > 1)
                   | "KeeperId" >> beam.Map(lambda d: (d["id"], None)))
        later = later_rejects | "LaterKeeper" >> beam.Map(
            lambda r: (r["id"], (r["duplicate_of"], r["dedup_cluster_size"])))
        moved = ({"keeper": keepers, "later": later} | "JoinKeepers" >> beam.CoGroupByKey()
                 | "Moved" >> beam.FlatMap(_final_keeper)
                 | "MovedToSalts" >> beam.FlatMap(lambda kv: [((kv[0], s), kv[1]) for s in range(fanout)]))
        keyed = exact_rejects | "ByKeeper" >> beam.Map(lambda r: ((r["duplicate_of"], salt(r["id"], fanout)), r))
        return {"rejects": keyed, "final": moved} | "JoinRejects" >> beam.CoGroupByKey() | "Repoint" >> beam.FlatMap(
            _repoint)
