"""Mixture plan arithmetic and ``pasture mixture plan``."""

from __future__ import annotations

import json

import pytest

from mixtures.plan import WARN_MISSING, WARN_NOT_IN_MIXTURE, WARN_REPEATED, SourceTokens, plan_mixture
from mixtures.spec import load_mixture
from pipeline.cli import main
from tests.tokenizer.fixtures import small_tokenizer, tiny_run, tokenized_run  # noqa: F401

LLAMA = load_mixture("llama1")
FULL = [SourceTokens(k, k, n) for k, n in [("cc", 853_000), ("c4", 198_000), ("github", 98_000),
                                          ("wikipedia", 25_700), ("books", 28_300), ("arxiv", 33_000),
                                          ("stackexchange", 27_200)]]


def test_llama_sized_run_reproduces_llamas_epochs():
    # Unique tokens implied by Table 1 scaled by 1e-6: epochs come out as LLaMA's.
    plan = plan_mixture(LLAMA, FULL, 1_400_000)
    assert [s.name for s in plan.sources] == list(LLAMA.kinds)
    assert plan.source("cc").tokens == 938_000 and plan.source("stackexchange").tokens == 28_000
    for s in plan.sources:
        assert s.weight == pytest.approx(LLAMA.source(s.kind).weight)
        assert s.epochs == pytest.approx(s.llama_epochs, abs=0.02), s.name
    assert plan.warnings == () and plan.missing == ()


def test_missing_sources_renormalise_and_warn():
    plan = plan_mixture(LLAMA, [SourceTokens("cc", "cc", 10**6), SourceTokens("books", "books", 10**6)], 715_000)
    assert plan.missing == ("c4", "github", "wikipedia", "arxiv", "stackexchange")
    assert plan.source("cc").weight == pytest.approx(67.0 / 71.5 * 100)
    assert plan.source("cc").tokens + plan.source("books").tokens == 715_000
    assert plan.source("books").tokens == 45_000
    assert [w.code for w in plan.warnings] == [WARN_MISSING] * 5


def test_over_repeated_source_warns():
    counts = [SourceTokens("cc", "cc", 10**6), SourceTokens("wikipedia", "wikipedia", 1_000)]
    plan = plan_mixture(LLAMA, counts, 1_000_000)
    wiki = plan.source("wikipedia")
    assert wiki.epochs == pytest.approx(1_000_000 * 4.5 / 71.5 / 1_000, rel=1e-3)
    repeated = [w for w in plan.warnings if w.code == WARN_REPEATED]
    assert [w.source for w in repeated] == ["wikipedia"]
    assert "2.45" in repeated[0].message


def test_two_sources_of_one_kind_share_its_weight_by_size():
    counts = [SourceTokens("cc-2019", "cc", 3_000), SourceTokens("cc-2020", "cc", 1_000),
              SourceTokens("notes", "books", 0), SourceTokens("weird", "c4x", 5)]
    plan = plan_mixture(LLAMA, counts, 1_000)
    assert [(s.name, s.tokens) for s in plan.sources] == [("cc-2019", 750), ("cc-2020", 250)]
    assert {w.code for w in plan.warnings} == {WARN_MISSING, WARN_NOT_IN_MIXTURE}
    assert "books" in plan.missing


def test_no_tokens_at_all_is_an_error():
    with pytest.raises(ValueError, match="has tokens"):
        plan_mixture(LLAMA, [], 10)


def test_plan_command_writes_json(tokenized_run, capsys):  # noqa: F811
    assert main(["mixture", "plan", "--run", str(tokenized_run), "--tokens", "2e6"]) == 0
    out = capsys.readouterr().out
    plan = json.loads((tokenized_run / "mixture_plan.json").read_text())
    assert plan["mixture"] == "llama1" and plan["total_tokens"] == 2_000_000
    assert [s["name"] for s in plan["sources"]] == list(LLAMA.kinds)
    assert sum(s["tokens"] for s in plan["sources"]) == 2_000_000
    cc = plan["sources"][0]
    assert cc["epochs"] == pytest.approx(cc["tokens"] / cc["available_tokens"])
    # This tiny run has ~0.1M cc tokens: 1.34M drawn is far beyond LLaMA's 1.10 epochs.
    assert any(w["code"] == WARN_REPEATED and w["source"] == "cc" for w in plan["warnings"])
    assert "repeated_far_more_than_llama" in out and "mixture_plan.json" in out
