"""Connected components of an edge PCollection, computed in Beam (large-star / small-star).

Kiveris, Lattanzi, Mirrokni, Rastogi, Vassilvitskii, "Connected Components in MapReduce and
Beyond" (SoCC 2014). Every edge is stored oriented ``(hi, lo)`` with ``hi > lo``. One round is:

- **large-star**: each node ``u`` with neighbourhood ``N(u)`` and ``m = min(N(u) ∪ {u})``
  links every *larger* neighbour ``v > u`` to ``m``;
- **small-star**: each node ``u`` with smaller neighbours ``S(u)`` and ``m = min(S(u))``
  links ``u`` and every ``v ∈ S(u)`` to ``m``.

Both keep connectivity; the graph converges to one star per component centred on its
smallest node, and on a star forest both operations are no-ops. Each operation is one
``GroupByKey`` over the edges only (never the documents), so no worker ever holds more than
one node's neighbourhood: there is no single-node union-find (datatrove's cluster stage).

A Beam graph is static, so ``max_rounds`` rounds are unrolled, but rounds after
convergence cost (almost) nothing: each round also sums the edges it changed
(``Round NN/Changes``, one combiner-lifted scalar), and a gate reads that sum as a side
input, every ``check_every`` (4) rounds. A checked round that changed nothing has produced
the final star forest: the gate sends its edges straight to the final step and hands the
next round an empty PCollection, so every later round shuffles nothing (at most 3 rounds
run after convergence before a check sees it). (The alternative, batches of rounds run as separate pipelines
until converged, would re-read the edges from storage between batches; gating keeps one
pipeline.) Counters ``connected_components/round_NN_changes`` show how many edges each
round changed, ``round_NN_forwarded`` how many edges it passed on to the next round.

A final grouping checks that the result *is* a star forest and
raises :class:`NotConvergedError` otherwise, so too small a ``max_rounds`` fails the run
loudly instead of splitting components silently. The rounds needed grow like log(n): a path
(the worst shape) of 10k nodes needs 11 rounds with hashed ids and 14 in id order, 100k
nodes 13 and 17 (measured with ``star_components``), so the default ``max_rounds = 40``
leaves a wide margin; near-duplicate clusters are far shallower than paths.

Self-loops mark isolated nodes (they appear in the output as their own component); duplicate
edges are harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

NAMESPACE = "connected_components"


class NotConvergedError(RuntimeError):
    """The unrolled rounds ended before every component became a star."""


# ---------------------------------------------------------------------------------------
# Pure per-node logic (also used by the in-memory reference below).


def oriented(u: Any, v: Any) -> tuple[Any, Any]:
    """The edge as ``(hi, lo)``."""
    return (u, v) if u > v else (v, u)


def large_star(node: Any, neighbors: set) -> tuple[list[tuple[Any, Any]], int]:
    """Large-star at ``node``: ``(new edges (hi, lo), number of edges changed)``.

    The edges ``(v, node)`` for larger neighbours ``v`` are emitted only here, so they change
    exactly when ``node`` is not the minimum of its neighbourhood.
    """
    m = min(neighbors) if neighbors else node
    m = node if node < m else m
    larger = [v for v in neighbors if v > node]
    changed = len(larger) if m != node else 0
    return [(v, m) for v in larger], changed


def small_star(node: Any, smaller: set) -> tuple[list[tuple[Any, Any]], int]:
    """Small-star at ``node`` given its smaller neighbours: ``(new edges, edges changed)``."""
    m = min(smaller)
    edges = [(node, m)] + [(v, m) for v in smaller if v != m]
    return edges, len(smaller) - 1


def star_components(edges: Iterable[tuple[Any, Any]], max_rounds: int = 1000) -> tuple[dict, int]:
    """In-memory large-star / small-star with the same per-node functions as the Beam graph.

    A reference for tests and for sizing ``max_rounds``; never used on a corpus.

    Returns:
        ``({node: component min}, rounds until no round changed anything)``.

    Raises:
        NotConvergedError: ``max_rounds`` rounds were not enough.
    """
    nodes: set = set()
    current: set = set()
    for u, v in edges:
        nodes.update((u, v))
        if u != v:
            current.add(oriented(u, v))
    for rounds in range(max_rounds + 1):  # noqa: B007 - returned: the rounds it took
        adjacency: dict = {}
        for hi, lo in current:
            adjacency.setdefault(hi, set()).add(lo)
            adjacency.setdefault(lo, set()).add(hi)
        after_large: set = set()
        changes = 0
        for node, neighbors in adjacency.items():
            out, changed = large_star(node, neighbors)
            after_large.update(out)
            changes += changed
        smaller: dict = {}
        for hi, lo in after_large:
            smaller.setdefault(hi, set()).add(lo)
        after_small: set = set()
        for node, below in smaller.items():
            out, changed = small_star(node, below)
            after_small.update(out)
            changes += changed
        current = after_small
        if changes == 0:
            break
    else:
        raise NotConvergedError(f"not converged after {max_rounds} rounds")
    assignment = {node: node for node in nodes}
    for hi, lo in current:
        assignment[hi] = lo
    return assignment, rounds


# ---------------------------------------------------------------------------------------
# Beam wiring.


def _both_directions(edge: tuple[Any, Any]) -> Iterator[tuple[Any, Any]]:
    hi, lo = edge
    yield hi, lo
    yield lo, hi


CHANGES = "changes"


class _StarDoFn(beam.DoFn):
    """One large-star or small-star step (``star``): edges, plus the changed count as a tagged output."""

    def __init__(self, star: Callable[[Any, set[Any]], tuple[list[tuple[Any, Any]], int]], round_index: int) -> None:
        self._star = star
        self._changes = Metrics.counter(NAMESPACE, f"round_{round_index:02d}_changes")

    def process(self, element: tuple[Any, Iterable[Any]]) -> Iterator[Any]:
        node, neighbors = element
        edges, changed = self._star(node, set(neighbors))
        if changed:
            self._changes.inc(changed)
            yield beam.pvalue.TaggedOutput(CHANGES, changed)
        yield from edges


DONE = "done"
# Rounds between convergence checks: a check costs a combine and a side input (a few small
# stages), an unchecked round after convergence one shuffle of the (final) edges.
CHECK_EVERY = 4


class _GateDoFn(beam.DoFn):
    """After a round: edges go on to the next round while it changed something, else straight to the end."""

    def __init__(self, round_index: int) -> None:
        self._forwarded = Metrics.counter(NAMESPACE, f"round_{round_index:02d}_forwarded")

    def process(self, edge: tuple[Any, Any], changes: int) -> Iterator[Any]:
        if changes:
            self._forwarded.inc()
            yield edge
        else:
            yield beam.pvalue.TaggedOutput(DONE, edge)


class _EmitStarsDoFn(beam.DoFn):
    """Checks that the graph is a star forest and emits ``(node, centre)`` for every node.

    A centre has only larger neighbours; a leaf has exactly one neighbour, smaller than it.
    A node with a smaller neighbour and any other neighbour means the rounds ran out.
    """

    def __init__(self, max_rounds: int) -> None:
        self._max_rounds = max_rounds
        self._components = Metrics.counter(NAMESPACE, "components")
        self._nodes = Metrics.counter(NAMESPACE, "nodes")

    def process(self, element: tuple[Any, Iterable[Any]]) -> Iterator[tuple[Any, Any]]:
        node, values = element
        neighbors = {v for v in values if v != node}  # a self-loop only says "node exists"
        if not neighbors or min(neighbors) > node:
            self._components.inc()
            self._nodes.inc(1 + len(neighbors))
            yield node, node
            for v in sorted(neighbors):
                yield v, node
        elif len(neighbors) > 1:
            raise NotConvergedError(
                f"connected components did not converge in max_rounds={self._max_rounds}: node {node!r} "
                f"still has {len(neighbors)} neighbours; raise minhash.max_rounds"
            )


class ConnectedComponents(beam.PTransform):
    """``edges (u, v)`` → ``(node, smallest node of its component)`` for every node seen.

    Args:
        max_rounds: Large-star + small-star rounds to unroll (each is two GroupByKeys over
            the edges). The run fails with :class:`NotConvergedError` if they do not suffice.
        check_every: Rounds between convergence checks (after which the rest are skipped).
    """

    def __init__(self, max_rounds: int, label: str | None = None, check_every: int = CHECK_EVERY) -> None:
        super().__init__(label)
        if max_rounds < 1 or check_every < 1:
            raise ValueError("max_rounds and check_every must be >= 1")
        self._max_rounds = max_rounds
        self._check_every = check_every

    def expand(self, edges: beam.PCollection) -> beam.PCollection:
        loops = edges | "Self-loops" >> beam.Filter(lambda e: e[0] == e[1]) | "As nodes" >> beam.Map(
            lambda e: (e[0], e[0]))
        current = (edges
                   | "Drop self-loops" >> beam.Filter(lambda e: e[0] != e[1])
                   | "Orient" >> beam.Map(lambda e: oriented(e[0], e[1])))
        finished = []  # the star forest, from the first round that changed nothing
        for i in range(1, self._max_rounds + 1):
            large = (
                current
                | f"Round {i:02d}/Large: both directions" >> beam.FlatMap(_both_directions)
                | f"Round {i:02d}/Large: group" >> beam.GroupByKey()
                | f"Round {i:02d}/Large: star" >> beam.ParDo(_StarDoFn(large_star, i)).with_outputs(CHANGES,
                                                                                                   main="edges")
            )
            small = (
                large.edges
                | f"Round {i:02d}/Small: group" >> beam.GroupByKey()
                | f"Round {i:02d}/Small: star" >> beam.ParDo(_StarDoFn(small_star, i)).with_outputs(CHANGES,
                                                                                                   main="edges")
            )
            if i == self._max_rounds or i % self._check_every:
                current = small.edges
                continue
            changes = (
                (large[CHANGES], small[CHANGES])
                | f"Round {i:02d}/All changes" >> beam.Flatten()
                | f"Round {i:02d}/Changes" >> beam.CombineGlobally(sum)
            )
            gated = small.edges | f"Round {i:02d}/Gate" >> beam.ParDo(
                _GateDoFn(i), beam.pvalue.AsSingleton(changes)).with_outputs(DONE, main="next")
            finished.append(gated[DONE])
            current = gated.next
        stars = (*finished, current) | "Final: all stars" >> beam.Flatten()
        return (
            (stars | "Final: both directions" >> beam.FlatMap(_both_directions), loops)
            | "Final: with isolated nodes" >> beam.Flatten()
            | "Final: group" >> beam.GroupByKey()
            | "Final: check stars" >> beam.ParDo(_EmitStarsDoFn(self._max_rounds))
        )
