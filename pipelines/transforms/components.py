"""Connected components in Beam: edges (node, node) -> (node, smallest node of its component).

`single` (the default): every edge goes to one worker after the shuffle, which runs union-find
(dedup.components.UnionFind: about 200 bytes a node, so 10 million near-duplicate documents need
about 2 GB on that worker; documents without a near duplicate cost nothing).
`distributed`: large-star and small-star rounds (Kiveris et al. 2014), each a pair of shuffles,
unrolled `max_rounds` times; they converge in O(log n) rounds. The last round counts the edges it
still changed (counter `cc_unconverged`); the driver fails the run if that is not zero.
"""

import apache_beam as beam

from dedup.components import components_of, large_star, small_star
from pipelines.transforms.metrics import CountingDoFn


def _both_ways(edge):
    a, b = edge
    return [(a, b), (b, a)]


def _union_find(element):
    _, edges = element
    yield from components_of(edges).items()


def _large(kv):
    return large_star(kv[0], kv[1])


def _small(kv):
    node, neighbours = kv
    return small_star(node, [v for v in neighbours if v < node])


def _label(kv):
    node, neighbours = kv
    return node, min(min(neighbours), node)


class _CountChanged(CountingDoFn):
    def process(self, element):
        _, grouped = element
        if bool(list(grouped["before"])) != bool(list(grouped["after"])):
            self.counters.inc("cc_unconverged")


class ConnectedComponents(beam.PTransform):
    def __init__(self, mode: str = "single", max_rounds: int = 20):
        super().__init__()
        if mode not in ("single", "distributed"):
            raise ValueError(f"components mode {mode!r}: single or distributed")
        self.mode, self.max_rounds = mode, max_rounds

    def expand(self, edges):
        if self.mode == "single":
            return (edges
                    | "OneKey" >> beam.Map(lambda e: (0, e))
                    | "AllEdges" >> beam.GroupByKey()
                    | "UnionFind" >> beam.FlatMap(_union_find))
        current = edges
        previous = None
        for r in range(self.max_rounds):
            previous = current
            large = (current
                     | f"Round{r}LargeOut" >> beam.FlatMap(_both_ways)
                     | f"Round{r}LargeGroup" >> beam.GroupByKey()
                     | f"Round{r}LargeStar" >> beam.FlatMap(_large)
                     | f"Round{r}LargeUnique" >> beam.Distinct())
            current = (large
                       | f"Round{r}SmallOut" >> beam.FlatMap(_both_ways)
                       | f"Round{r}SmallGroup" >> beam.GroupByKey()
                       | f"Round{r}SmallStar" >> beam.FlatMap(_small)
                       | f"Round{r}SmallUnique" >> beam.Distinct())
        # Converged when the last round left the edge set as it found it.
        ({"before": previous | "KeyBefore" >> beam.Map(lambda e: (e, 1)),
          "after": current | "KeyAfter" >> beam.Map(lambda e: (e, 1))}
         | "CompareLastRound" >> beam.CoGroupByKey()
         | "CountChanged" >> beam.ParDo(_CountChanged()))
        return (current
                | "LabelOut" >> beam.FlatMap(_both_ways)
                | "LabelGroup" >> beam.GroupByKey()
                | "Label" >> beam.Map(_label))
