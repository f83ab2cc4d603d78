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
import xxhash
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from dedup.components import index_node_key, is_index_node, node_id
from dedup.decide import NearOutcome
from dedup.exact import salt
from dedup.minhash import estimated_jaccard, jaccard
from pipelines.config import VERIFY_MODES
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


def _salted_pairs(element):
    (key, _), grouped = element
    for one in grouped["one"]:
        for value in grouped["many"]:
            yield key, value, one


def salted_join(many, one, fanout: int, label: str):
    """many (key, value), one (key, its single value) -> (key, value, its one) for each value whose key
    has one. The one side is copied to `fanout` salts and each value goes to the salt its own hash
    picks, so a key with a million values forms `fanout` groups, never one giant group."""
    return ({"many": many | f"{label}SaltMany" >> beam.Map(lambda kv: ((kv[0], salt(kv[1], fanout)), kv[1])),
             "one": one | f"{label}OneToSalts" >> beam.FlatMap(lambda kv: [((kv[0], s), kv[1]) for s in range(fanout)])}
            | f"{label}SaltedJoin" >> beam.CoGroupByKey()
            | f"{label}Pairs" >> beam.FlatMap(_salted_pairs))


def _star(members, fanout: int, label: str):
    """members ((band, key), node) -> star edges (bucket key, member, centre), without giant groups."""
    buckets = (members
               | f"{label}Buckets" >> beam.CombinePerKey(SmallestMember())
               | f"{label}Shared" >> beam.Filter(lambda kv: kv[1][1] > 1))
    return (salted_join(members, buckets, fanout, label)
            | f"{label}StarEdges" >> beam.FlatMap(lambda e: [(e[0], e[1], e[2][0])] if e[1] != e[2][0] else []))


class _WriteBandFiles(beam.DoFn):
    """band nodes (node key, id, 64-bit text hash, band keys) -> (band, band file), in chunks of CHUNK
    nodes: per chunk one file of the nodes (score rank, id, text hash) and one of each band's keys, so
    band memberships (bands x documents) never become elements. About 90 bytes a document on disk."""

    CHUNK = 100_000

    def __init__(self, work_dir: str, bands: int):
        self.work_dir, self.bands = work_dir, bands

    def start_bundle(self):
        self._rows, self._token = [], None

    def process(self, node):
        if self._token is None:  # a new chunk: its files are named now, written when it is full
            self._token = uuid.uuid4().hex
            yield from ((b, self._path(b)) for b in range(self.bands))
        self._rows.append(node)
        if len(self._rows) >= self.CHUNK:
            self._flush()

    def _path(self, band) -> str:
        return FileSystems.join(self.work_dir, "bands", f"{self._token}-{band}.npz")

    def _flush(self):
        if self._token is None:
            return
        nodes, ids, hashes, keys = zip(*self._rows)
        columns = {"ranks": np.array([-1 if is_index_node(n) else int(n[:10]) for n in nodes], dtype=np.int64),
                   "ids": np.array(ids, dtype="S"), "hashes": np.array(hashes, dtype=np.uint64)}
        keys = np.array(keys, dtype=np.uint64).reshape(len(nodes), self.bands)
        for band, data in [("nodes", columns)] + [(b, {"keys": keys[:, b]}) for b in range(self.bands)]:
            with FileSystems.create(self._path(band), compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                np.savez(fh, **data)
        self._rows, self._token = [], None

    def finish_bundle(self):
        self._flush()


def _load(path: str) -> dict:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        data = np.load(io.BytesIO(fh.read()))
        return {name: data[name] for name in data.files}


def _node_key(rank: int, doc_id: bytes) -> str:
    """The node key a band file's (rank, id) stands for (dedup.components.node_key, index_node_key)."""
    doc_id = doc_id.decode()
    return index_node_key(doc_id) if rank < 0 else f"{rank:010d}{doc_id}"


def _starts(*columns) -> np.ndarray:
    """Where a run of equal rows (over all `columns`, sorted) starts."""
    changed = np.zeros(len(columns[0]), bool)
    changed[:1] = True
    for column in columns:
        changed[1:] |= column[1:] != column[:-1]
    return changed


def _band_stars(element):
    """(band, its files) -> (bucket, member, centre) for every node of a bucket of more than one but
    its smallest, the centre. Exact copies share every bucket: of each text only its keeper (the
    smallest id) is a node. One sort of the band's rows, about 60 bytes a document."""
    band, paths = element
    if not paths:
        return
    parts = []
    for path in sorted(paths):
        nodes = _load(path.rsplit("-", 1)[0] + "-nodes.npz")
        parts.append({"keys": _load(path)["keys"], **nodes})
    keys, hashes, ranks, ids = (np.concatenate([p[name] for p in parts]) for name in ("keys", "hashes", "ranks", "ids"))
    order = np.lexsort((ids, hashes, keys))  # by bucket, then text, then id: a text's keeper first
    keepers = order[_starts(keys[order], hashes[order])]
    keys, ranks, ids = keys[keepers], ranks[keepers], ids[keepers]
    order = np.lexsort((ids, ranks, keys))  # by bucket, then node key: the centre first
    keys, ranks, ids = keys[order], ranks[order], ids[order]
    first = _starts(keys)
    centre = np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))
    for i in np.flatnonzero(~first):
        c = centre[i]
        yield (band, int(keys[i])), _node_key(int(ranks[i]), ids[i]), _node_key(int(ranks[c]), ids[c])


class BandBuckets(beam.PTransform):
    """band nodes (node key, id, 64-bit text hash, band keys) -> star edges (bucket, member, centre) of
    every band bucket with more than one node, the centre its smallest. Bucketing runs on files, one
    sort per band (_band_stars), since as Beam elements the band memberships would be `bands`
    shuffled elements per document."""

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


def _root_weights(element):
    """(node, {"root": [its component's root], "weight": [its copies, where more than one]}) -> (root, (node, weight))."""
    node, grouped = element
    weights = list(grouped["weight"])
    for root in grouped["root"]:
        yield root, (node, weights[0] if weights else 1)


def _index_node(row) -> tuple:
    return index_node_key(row["id"]), row["id"], xxhash.xxh64_intdigest(("#" + row["id"]).encode()), tuple(row["bands"])


class NearClusters(beam.PTransform):
    """(band nodes, evidence, weights) -> (id, NearOutcome) for every node in a component of more than
    one node (index nodes excluded). band nodes: (node key, id, 64-bit text hash, band keys), one per
    document; of a text's exact copies only the keeper (smallest id) becomes a node. evidence: (node
    key, (signature bytes, shingle bytes)), used for verification. weights: (node key, copies)
    of the keepers with more than one copy.

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

    def expand(self, pcolls):
        nodes, evidence, weights = pcolls
        fanout = self.fanout
        if self.index_files:
            indexed = (nodes.pipeline
                       | "IndexFiles" >> beam.Create(self.index_files)
                       | "ReadIndex" >> beam.io.ReadAllFromParquet(columns=["id", "bands", "signature"]))
            nodes = (nodes, indexed | "IndexNodes" >> beam.Map(_index_node)) | "WithIndex" >> beam.Flatten()
            if self.verify is not None:
                evidence = (evidence, indexed | "IndexEvidence" >> beam.Map(lambda r: (
                    index_node_key(r["id"]), (np.asarray(r["signature"], np.uint32).tobytes(), None)))
                            ) | "WithIndexEvidence" >> beam.Flatten()
        stars = nodes | "BandBuckets" >> BandBuckets(self.work_dir, self.bands)
        if self.verify is None:
            edges = (stars
                     | "Edges" >> beam.Map(lambda e: (e[1], e[2]))
                     | "UniqueEdges" >> beam.Distinct())
        else:
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
        weighted = ({"root": labels, "weight": weights}
                    | "JoinWeights" >> beam.CoGroupByKey()
                    | "RootWeights" >> beam.FlatMap(_root_weights))
        sizes = (weighted
                 | "SizeParts" >> beam.Map(lambda kv: (kv[0], kv[1][1]))
                 | "Sizes" >> beam.CombinePerKey(sum))
        members = weighted | "MemberByRoot" >> beam.Map(lambda kv: (kv[0], kv[1][0]))
        return (salted_join(members, sizes, fanout, "Sizes")
                | "MemberClusters" >> beam.FlatMap(
                    lambda e: [] if is_index_node(e[1]) else [(node_id(e[1]), NearOutcome(e[0], e[2]))]))
