"""MinHash near-deduplication in Beam (logic in dedup.minhash and dedup.components).

1. Each document gets a signature and band keys, and a node key that sorts in keeper order (best
   quality score, then id).
2. Band buckets: a combiner finds each bucket's smallest member and size before the shuffle; buckets
   with more than one member are copied to `fanout` salts and joined with their members, so a
   bucket of a million boilerplate pages never forms one group. Each member gets an edge to its
   bucket's smallest member (a star, never all pairs).
3. Optionally, each edge is verified: the exact Jaccard similarity of the two documents' shingles
   ("exact"), or its estimate from their full signatures ("signature": cheaper, no shingle sets
   travel), must reach the threshold. This removes the LSH false positives. Members that fail
   against their centre form a bucket of their own around its smallest member and are verified
   again (VERIFY_ROUNDS in all), so a false-positive centre does not hide its bucket's true pairs.
4. Connected components: union-find on one worker after the shuffle (default), or large-star and
   small-star rounds as shuffles, with a convergence check (pipelines.transforms.components).
5. Every document learns its component's keeper and size (summed over the exact-duplicate clusters
   it stands for); all but the keeper go to the rejects with the id they duplicate.

With an index (--dedup-index), the band keys of documents earlier runs kept join the buckets as
members that always win: a new document in their component is rejected as a duplicate of the
indexed one. The band keys of this run's kept documents are written to the index afterwards.
"""

import apache_beam as beam
import numpy as np

from dedup.components import index_node_key, is_index_node, node_id, node_key
from dedup.exact import salt
from dedup.minhash import MinHasher, band_keys, estimated_jaccard, jaccard
from pipelines.sources.records import Rejected
from pipelines.transforms.components import ConnectedComponents
from pipelines.transforms.metrics import CountingDoFn
from pipelines.transforms.stages import REJECTS

STAGE = "near_dedup"


def _score(doc: dict) -> float | None:
    return (doc.get("signals") or {}).get("quality_score")


class Sketch(beam.DoFn):
    """doc -> (node key, exact-cluster size, band keys, (signature, shingle set)), the last two as
    bytes or None: the signature travels only for verification or an index, the shingle set only
    for exact verification."""

    def __init__(self, hasher: MinHasher, bands: int, rows: int, keep_signature: bool, keep_shingles: bool):
        self.hasher, self.bands, self.rows = hasher, bands, rows
        self.keep_signature, self.keep_shingles = keep_signature, keep_shingles

    def process(self, doc):
        signature = self.hasher.signature(doc["text"], doc.get("lang"))
        if signature is None:  # no shingles: the document stays its own cluster
            return []
        shingles = None
        if self.keep_shingles:
            shingles = np.unique(self.hasher.shingle_hashes(doc["text"], doc.get("lang"))).tobytes()
        return [(node_key(doc["id"], _score(doc)), int(doc.get("dedup_cluster_size") or 1),
                 band_keys(signature, self.bands, self.rows),
                 (signature.tobytes() if self.keep_signature else None, shingles))]


def similarity(a: tuple, b: tuple) -> float:
    """Exact Jaccard of the shingle sets where both sides have them, else the signature estimate
    (an index keeps signatures, not shingle sets)."""
    if a[1] is not None and b[1] is not None:
        return jaccard(np.frombuffer(a[1], np.uint32), np.frombuffer(b[1], np.uint32))
    return estimated_jaccard(np.frombuffer(a[0], np.uint32), np.frombuffer(b[0], np.uint32))


class SmallestMember(beam.CombineFn):
    """(smallest node key, members) of a bucket; associative, so it runs before the shuffle."""

    def create_accumulator(self):
        return None, 0

    def add_input(self, acc, node):
        return (node if acc[0] is None or node < acc[0] else acc[0]), acc[1] + 1

    def merge_accumulators(self, accs):
        smallest, count = None, 0
        for node, n in accs:
            count += n
            if node is not None and (smallest is None or node < smallest):
                smallest = node
        return smallest, count

    def extract_output(self, acc):
        return acc


def _star_edges(element):
    """-> (bucket key, member, the bucket's smallest member) for every other member."""
    (bucket, _), grouped = element
    buckets = list(grouped["bucket"])
    if not buckets:
        return
    smallest = buckets[0][0]
    for node in grouped["members"]:
        if node != smallest:
            yield bucket, node, smallest


def _star(members, fanout: int, label: str):
    """members ((band, key), node) -> star edges (bucket key, member, centre), without giant groups."""
    buckets = (members
               | f"{label}Buckets" >> beam.CombinePerKey(SmallestMember())
               | f"{label}Shared" >> beam.Filter(lambda kv: kv[1][1] > 1)
               | f"{label}BucketToSalts" >> beam.FlatMap(lambda kv: [((kv[0], s), kv[1]) for s in range(fanout)]))
    return ({"members": members | f"{label}SaltMembers" >> beam.Map(
                lambda kv: ((kv[0], salt(kv[1], fanout)), kv[1])),
             "bucket": buckets}
            | f"{label}JoinBuckets" >> beam.CoGroupByKey()
            | f"{label}StarEdges" >> beam.FlatMap(_star_edges))


def _failed_members(element):
    """((member, centre), {"bucket": bucket keys, "passed": ...}) -> (bucket, member) where it failed."""
    (node, _), grouped = element
    if not list(grouped["passed"]):
        for bucket in grouped["bucket"]:
            yield bucket, node


# Verification rounds: members that fail against their bucket's centre form a bucket of their own,
# around its smallest member, and are verified again; so a false-positive centre does not hide
# true pairs among the rest of its bucket (after the last round, those are lost).
VERIFY_ROUNDS = 3


class _Verify(beam.PTransform):
    """edges (a, b) -> those whose documents' similarity (exact or estimated Jaccard) reaches the
    threshold, as (a, b)."""

    def __init__(self, evidence, threshold: float, label: str):
        super().__init__()
        self.evidence, self.threshold, self.label = evidence, threshold, label

    def expand(self, edges):
        evidence, threshold, label = self.evidence, self.threshold, self.label
        with_a = ({"edge": edges, "evidence": evidence}
                  | f"{label}JoinA" >> beam.CoGroupByKey()
                  | f"{label}EdgeWithA" >> beam.FlatMap(lambda kv: [(b, (kv[0], s)) for b in kv[1]["edge"]
                                                                    for s in kv[1]["evidence"]]))
        return ({"edge": with_a, "evidence": evidence}
                | f"{label}JoinB" >> beam.CoGroupByKey()
                | f"{label}Keep" >> beam.FlatMap(lambda kv: [
                    (a, kv[0]) for a, ea in kv[1]["edge"] for eb in kv[1]["evidence"]
                    if similarity(ea, eb) >= threshold]))


class _Decide(CountingDoFn):
    def process(self, element):
        _, grouped = element
        clusters = list(grouped["cluster"])
        for doc in grouped["doc"]:
            doc = dict(doc)
            source = doc["source"]
            self.counters.inc("stage_in", stage=STAGE, source=source)
            if not clusters:
                self.count_out(STAGE, doc)
                yield doc
                continue
            root, size = clusters[0]
            keeper = node_id(root)
            doc["dedup_cluster"], doc["dedup_cluster_size"] = keeper, size
            # An indexed copy with this document's own id is this document from an earlier run of the
            # same input (rerun into another output): not a duplicate of itself, and kept.
            if is_index_node(root) and keeper != doc["id"]:
                self.counters.inc("rejected", stage=STAGE, reason="in_index", source=source)
                yield beam.pvalue.TaggedOutput(REJECTS, Rejected(
                    doc, STAGE, "in_index", f"near-duplicate of indexed document {keeper}", duplicate_of=keeper).row())
            elif keeper == doc["id"]:
                self.count_out(STAGE, doc)
                yield doc
            else:
                self.counters.inc("rejected", stage=STAGE, reason="near_duplicate", source=source)
                yield beam.pvalue.TaggedOutput(REJECTS, Rejected(
                    doc, STAGE, "near_duplicate", f"near-duplicate of {keeper} (a cluster of {size})",
                    duplicate_of=keeper).row())


VERIFY_MODES = ("exact", "signature")


class NearDedup(beam.PTransform):
    """docs -> (kept, rejects, index rows of the kept documents or None).

    verify: None (every LSH candidate pair counts), "exact" or "signature" (see similarity), with
    verify_threshold. write_index: also return the rows an index needs."""

    def __init__(self, hasher: MinHasher, bands: int, rows: int, verify: str | None = None,
                 verify_threshold: float | None = None, components: str = "single", max_rounds: int = 20,
                 fanout: int = 16, index_files=None, write_index: bool = False):
        super().__init__()
        if verify is not None and (verify not in VERIFY_MODES or verify_threshold is None):
            raise ValueError(f"verify {verify!r} needs a threshold and one of {VERIFY_MODES}")
        self.hasher, self.bands, self.rows = hasher, bands, rows
        self.verify, self.verify_threshold = verify, verify_threshold
        self.components, self.max_rounds, self.fanout = components, max_rounds, fanout
        self.index_files, self.write_index = list(index_files or []), write_index

    def expand(self, docs):
        fanout = self.fanout
        sketches = docs | "Sketch" >> beam.ParDo(Sketch(
            self.hasher, self.bands, self.rows, keep_signature=self.verify is not None or self.write_index,
            keep_shingles=self.verify == "exact"))
        if self.index_files:
            indexed = (docs.pipeline
                       | "IndexFiles" >> beam.Create(self.index_files)
                       | "ReadIndex" >> beam.io.ReadAllFromParquet(columns=["id", "bands", "signature"])
                       | "IndexSketches" >> beam.Map(lambda r: (
                           index_node_key(r["id"]), 1, list(r["bands"]),
                           (np.asarray(r["signature"], np.uint32).tobytes(), None))))
            sketches = (sketches, indexed) | "WithIndex" >> beam.Flatten()
        members = sketches | "BandMembers" >> beam.FlatMap(
            lambda s: [((band, key), s[0]) for band, key in enumerate(s[2])])
        if self.verify is None:
            edges = (_star(members, fanout, "")
                     | "Edges" >> beam.Map(lambda e: (e[1], e[2]))
                     | "UniqueEdges" >> beam.Distinct())
        else:
            evidence = sketches | "Evidence" >> beam.Map(lambda s: (s[0], s[3]))
            verified = []
            for r in range(VERIFY_ROUNDS):
                star = _star(members, fanout, f"Round{r}")
                passed = (star
                          | f"Round{r}Edges" >> beam.Map(lambda e: (e[1], e[2]))
                          | f"Round{r}UniqueEdges" >> beam.Distinct()
                          | f"Round{r}Verify" >> _Verify(evidence, self.verify_threshold, f"Round{r}"))
                verified.append(passed)
                if r + 1 < VERIFY_ROUNDS:
                    members = ({"bucket": star | f"Round{r}ByEdge" >> beam.Map(lambda e: ((e[1], e[2]), e[0])),
                                "passed": passed | f"Round{r}Passed" >> beam.Map(lambda e: (e, None))}
                               | f"Round{r}JoinPassed" >> beam.CoGroupByKey()
                               | f"Round{r}Failed" >> beam.FlatMap(_failed_members))
            edges = verified | "AllVerified" >> beam.Flatten()
        labels = edges | "Components" >> ConnectedComponents(self.components, self.max_rounds)  # (node, root)
        weights = sketches | "Weights" >> beam.Map(lambda s: (s[0], s[1]))
        weighted = ({"root": labels, "weight": weights}
                    | "JoinWeights" >> beam.CoGroupByKey()
                    | "RootWeights" >> beam.FlatMap(lambda kv: [(root, (kv[0], w)) for root in kv[1]["root"]
                                                                for w in kv[1]["weight"]]))
        sizes = (weighted
                 | "SizeParts" >> beam.Map(lambda kv: (kv[0], kv[1][1]))
                 | "Sizes" >> beam.CombinePerKey(sum)
                 | "SizeToSalts" >> beam.FlatMap(lambda kv: [((kv[0], s), kv[1]) for s in range(fanout)]))
        clusters = ({"member": weighted | "SaltByRoot" >> beam.Map(
                        lambda kv: ((kv[0], salt(kv[1][0], fanout)), kv[1][0])),
                     "size": sizes}
                    | "JoinSizes" >> beam.CoGroupByKey()
                    | "MemberClusters" >> beam.FlatMap(lambda kv: [
                        (node_id(m), (kv[0][0], size)) for m in kv[1]["member"] for size in kv[1]["size"]]))
        out = ({"doc": docs | "DocsById" >> beam.Map(lambda d: (d["id"], d)), "cluster": clusters}
               | "JoinDocs" >> beam.CoGroupByKey()
               | "Decide" >> beam.ParDo(_Decide()).with_outputs(REJECTS, main="kept"))
        if not self.write_index:
            return out.kept, out[REJECTS], None
        # The band keys and signatures of what this run keeps, for an index.
        index_rows = ({"kept": out.kept | "KeptIds" >> beam.Map(lambda d: (d["id"], None)),
                       "sketch": sketches | "SketchById" >> beam.Map(lambda s: (node_id(s[0]), s))}
                      | "JoinKept" >> beam.CoGroupByKey()
                      | "IndexRows" >> beam.FlatMap(lambda kv: [
                          {"id": kv[0], "node": s[0], "bands": s[2],
                           "signature": np.frombuffer(s[3][0], np.uint32).tolist()} for s in kv[1]["sketch"]
                          if list(kv[1]["kept"]) and not is_index_node(s[0])]))
        return out.kept, out[REJECTS], index_rows
