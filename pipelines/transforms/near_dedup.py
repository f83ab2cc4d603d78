"""MinHash near-deduplication in Beam (logic in dedup.minhash and dedup.components).

1. Each exact cluster's keeper is a node: its sketch (signature and band keys, made as its document
   was spilled), a key that sorts in keeper order (best quality score, then id), and a weight (the
   copies it stands for).
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
5. Every node learns its component's keeper and size (summed over the weights); dedup.decide turns
   that into each document's outcome (pipelines.transforms.deduplicate).

With an index (--dedup-index), the band keys of documents earlier runs kept join the buckets as
members that always win: a new document in their component is rejected as a duplicate of the
indexed one. The band keys of this run's kept documents are written to the index afterwards.
"""

import io
import typing
import uuid

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from dedup.components import index_node_key, is_index_node, node_id
from dedup.decide import NearOutcome
from dedup.exact import salt
from dedup.minhash import estimated_jaccard, jaccard
from pipelines.transforms.components import ConnectedComponents

STAGE = "near_dedup"


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


class _WriteBandFiles(beam.DoFn):
    """nodes -> (band, band file): each node's key in every band, written in chunks of CHUNK nodes,
    one .npz per band per chunk (keys uint64, node keys as bytes), so band memberships (bands x
    nodes) never become elements."""

    CHUNK = 100_000

    def __init__(self, work_dir: str, bands: int):
        self.work_dir, self.bands = work_dir, bands

    def start_bundle(self):
        self._keys, self._nodes, self._paths = [], [], None

    def process(self, node):
        if self._paths is None:  # a new chunk: its files are named now, written when it is full
            token = uuid.uuid4().hex
            self._paths = [FileSystems.join(self.work_dir, "bands", f"{token}-{b}.npz") for b in range(self.bands)]
            yield from enumerate(self._paths)
        self._keys.append(node[2])
        self._nodes.append(node[0])
        if len(self._nodes) >= self.CHUNK:
            self._flush()

    def _flush(self):
        if self._paths is None:
            return
        keys = np.array(self._keys, dtype=np.uint64).reshape(len(self._nodes), self.bands)
        nodes = np.array(self._nodes, dtype="S")
        for band, path in enumerate(self._paths):
            with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                np.savez(fh, keys=keys[:, band], nodes=nodes)
        self._keys, self._nodes, self._paths = [], [], None

    def finish_bundle(self):
        self._flush()


def _load(path: str) -> tuple[np.ndarray, np.ndarray]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        data = np.load(io.BytesIO(fh.read()))
        return data["keys"], data["nodes"]


def _band_stars(element):
    """(band, its files) -> (bucket, member, centre) for every member of a bucket of more than one
    node but its smallest, the centre: one sort of the band's keys (8 bytes and a node key a node)."""
    band, paths = element
    parts = [_load(path) for path in sorted(paths)]
    keys = np.concatenate([k for k, _ in parts])
    nodes = np.concatenate([n for _, n in parts]) if parts else np.empty(0, "S1")
    order = np.lexsort((nodes, keys))
    keys, nodes = keys[order], nodes[order]
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    shared = ~first  # a node whose bucket has a smaller node before it
    centre = np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))
    for i in np.flatnonzero(shared):
        yield (band, int(keys[i])), nodes[i].decode(), nodes[centre[i]].decode()


class BandBuckets(beam.PTransform):
    """nodes (node key, weight, band keys, evidence) -> star edges (bucket, member, centre) of every
    band bucket with more than one node, the centre its smallest. Bucketing runs on files, one sort
    per band (_band_stars: memory 8 bytes plus a node key per node), since as Beam elements the band
    memberships would be `bands` shuffled elements per document."""

    def __init__(self, work_dir: str, bands: int):
        super().__init__()
        self.work_dir, self.bands = work_dir, bands

    def expand(self, nodes):
        return (nodes
                | "WriteBandFiles" >> beam.ParDo(_WriteBandFiles(self.work_dir, self.bands))
                | "FilesPerBand" >> beam.GroupByKey()
                # Any: the inferred int coder would refuse band keys of 2**63 and more
                | "BandStars" >> beam.FlatMap(_band_stars).with_output_types(typing.Any))


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


VERIFY_MODES = ("exact", "signature")


class NearClusters(beam.PTransform):
    """nodes (node key, weight, band keys, (signature, shingles)) -> (id, NearOutcome) for every node
    in a component of more than one node (index nodes excluded).

    work_dir: where band files go (BandBuckets). verify: None (every LSH candidate pair counts), "exact"
    or "signature" (see similarity), with verify_threshold. index_files: index shards whose nodes join
    the buckets (and always win)."""

    def __init__(self, work_dir: str, bands: int, rows: int, verify: str | None = None,
                 verify_threshold: float | None = None, components: str = "single", max_rounds: int = 20,
                 fanout: int = 16, index_files=None):
        super().__init__()
        self.work_dir = work_dir
        if verify is not None and (verify not in VERIFY_MODES or verify_threshold is None):
            raise ValueError(f"verify {verify!r} needs a threshold and one of {VERIFY_MODES}")
        self.bands, self.rows = bands, rows
        self.verify, self.verify_threshold = verify, verify_threshold
        self.components, self.max_rounds, self.fanout = components, max_rounds, fanout
        self.index_files = list(index_files or [])

    def expand(self, sketches):
        fanout = self.fanout
        if self.index_files:
            indexed = (sketches.pipeline
                       | "IndexFiles" >> beam.Create(self.index_files)
                       | "ReadIndex" >> beam.io.ReadAllFromParquet(columns=["id", "bands", "signature"])
                       | "IndexSketches" >> beam.Map(lambda r: (
                           index_node_key(r["id"]), 1, tuple(r["bands"]),
                           (np.asarray(r["signature"], np.uint32).tobytes(), None))))
            sketches = (sketches, indexed) | "WithIndex" >> beam.Flatten()
        stars = sketches | "BandBuckets" >> BandBuckets(self.work_dir, self.bands)
        if self.verify is None:
            edges = (stars
                     | "Edges" >> beam.Map(lambda e: (e[1], e[2]))
                     | "UniqueEdges" >> beam.Distinct())
        else:
            evidence = sketches | "Evidence" >> beam.Map(lambda s: (s[0], s[3]))
            verified, members = [], None  # members: of the buckets whose verification failed
            for r in range(VERIFY_ROUNDS):
                star = stars if r == 0 else _star(members, fanout, f"Round{r}")
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
                        (node_id(m), NearOutcome(kv[0][0], size)) for m in kv[1]["member"] if not is_index_node(m)
                        for size in kv[1]["size"]]))
        return clusters
