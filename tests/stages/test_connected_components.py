"""Connected components in Beam agree with networkx, and fail loudly when rounds run out."""

from __future__ import annotations

import hashlib
import random

import apache_beam as beam
import networkx as nx
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from stages.connected_components import ConnectedComponents, NotConvergedError, star_components


def _hid(i: int) -> str:
    """Ids shaped like ours: hashed, so their order is unrelated to the graph."""
    return "doc/" + hashlib.sha1(str(i).encode()).hexdigest()[:10]


def _expected(edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    graph = nx.Graph()
    graph.add_edges_from(edges)  # self-loops add their node
    out = []
    for component in nx.connected_components(graph):
        low = min(component)
        out += [(node, low) for node in component]
    return sorted(out)


def _graph_zoo() -> list[tuple[str, str]]:
    rng = random.Random(7)
    edges: list[tuple[str, str]] = []
    # chain of 40 in hashed order
    edges += [(_hid(i), _hid(i + 1)) for i in range(0, 39)]
    # star of 12 around a node that is not the smallest
    edges += [(_hid(100), _hid(100 + k)) for k in range(1, 12)]
    # clique of 6
    clique = [_hid(200 + k) for k in range(6)]
    edges += [(a, b) for a in clique for b in clique if a < b]
    # path ordered so the minimum sits in the middle
    edges += [(f"p{k:03d}", f"p{k + 1:03d}") for k in range(30)] + [("p015", "a-min")]
    # self-loops: one isolated node, one on a node that also has edges
    edges += [(_hid(300), _hid(300)), (_hid(0), _hid(0))]
    # duplicate and reversed edges
    edges += [(_hid(1), _hid(0)), (_hid(0), _hid(1)), (_hid(0), _hid(1))]
    # random sparse graph: several disconnected pieces
    nodes = [_hid(400 + k) for k in range(80)]
    edges += [(rng.choice(nodes), rng.choice(nodes)) for _ in range(70)]
    return edges


def _run(edges, max_rounds):
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(edges, reshuffle=False) | ConnectedComponents(max_rounds)
        assert_that(out, equal_to(_expected(edges)))
    return p.result


def test_star_reference_matches_networkx():
    edges = _graph_zoo()
    assignment, rounds = star_components(edges)
    assert sorted(assignment.items()) == _expected(edges)
    assert rounds >= 2


def test_beam_components_match_networkx_on_mixed_graphs():
    edges = _graph_zoo()
    _, needed = star_components(edges)
    result = _run(edges, max_rounds=needed + 8)
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace("connected_components"))["counters"]}
    # Converged rounds are gated off: the first checked round (every 4th) after round `needed`
    # changes nothing, forwards no edge, and the rounds after it get empty input.
    checked = (needed // 4 + 1) * 4
    assert counters.get(f"round_{checked - 4:02d}_forwarded", 0) > 0 or checked - 4 == 0
    assert all(counters.get(f"round_{r:02d}_changes", 0) == 0 for r in range(needed + 1, needed + 9))
    assert counters.get(f"round_{checked:02d}_forwarded", 0) == 0
    assert counters["components"] == len({low for _, low in _expected(edges)})
    assert counters["nodes"] == len(_expected(edges))
    # the round after convergence changes nothing (its counter is never incremented)
    assert counters.get(f"round_{needed + 1:02d}_changes", 0) == 0
    assert counters[f"round_{needed:02d}_changes"] > 0


def test_long_path_needs_many_rounds_and_fails_loudly_with_too_few():
    edges = [(f"n{k:04d}", f"n{k + 1:04d}") for k in range(300)]
    _, needed = star_components(edges)
    assert needed >= 8  # an id-ordered path is the slow case for star contraction
    _run(edges, max_rounds=needed)
    with pytest.raises(Exception, match="did not converge"):
        _run(edges, max_rounds=needed - 1)


def test_reference_raises_when_rounds_run_out():
    with pytest.raises(NotConvergedError):
        star_components([(k, k + 1) for k in range(100)], max_rounds=2)


def test_empty_input_gives_no_components():
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create([], reshuffle=False).with_output_types(tuple[str, str]) | ConnectedComponents(3)
        assert_that(out, equal_to([]))
