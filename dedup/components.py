"""Connected components of the near-duplicate graph: union-find in one process, or large-star and
small-star steps (Kiveris et al. 2014, "Connected Components in MapReduce and Beyond") to be run
as shuffles. Both label every node with the smallest node of its component.

Nodes are strings that sort in keeper order (filters' best quality score first, then id; see
`node_key`), so the component label is also the document to keep.
"""

from collections.abc import Iterable

ID_LENGTH = 32  # document ids: 128-bit hashes in hex


def node_key(doc_id: str, quality_score: float | None) -> str:
    """Sorts best score first, then by id; `doc_id` is the last ID_LENGTH characters."""
    score = 0.0 if quality_score is None else min(1.0, max(0.0, float(quality_score)))
    return f"{round((1.0 - score) * 1e9):010d}{doc_id}"


def index_node_key(doc_id: str) -> str:
    """A document of an earlier run's index: it sorts before every new document, so it is kept."""
    return "#" + "0" * 9 + doc_id


def is_index_node(key: str) -> bool:
    return key.startswith("#")


def node_id(key: str) -> str:
    return key[-ID_LENGTH:]


class UnionFind:
    """Disjoint sets over node keys; each set's root is its smallest key. Memory: about 200 bytes a
    node on CPython (two dict entries), so 10 million near-duplicate documents need about 2 GB."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, node: str) -> str:
        parent = self.parent.setdefault(node, node)
        if parent == node:
            return node
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb

    def components(self) -> dict[str, str]:
        """node -> its component's smallest node."""
        return {node: self.find(node) for node in self.parent}


def components_of(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    uf = UnionFind()
    for a, b in edges:
        uf.union(a, b)
    return uf.components()


def large_star(node: str, neighbours: Iterable[str]) -> list[tuple[str, str]]:
    """Connect every larger neighbour to the smallest node of the neighbourhood (node included)."""
    neighbours = set(neighbours)
    smallest = min(neighbours | {node})
    return [(v, smallest) for v in neighbours if v > node]


def small_star(node: str, smaller_neighbours: Iterable[str]) -> list[tuple[str, str]]:
    """Connect the node and its smaller neighbours to the smallest of them (the node included)."""
    group = set(smaller_neighbours) | {node}
    smallest = min(group)
    return [(v, smallest) for v in group if v != smallest]
