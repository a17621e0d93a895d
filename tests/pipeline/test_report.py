"""``pasture report``: a self-contained HTML page built from a run directory."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from filters.document import Document, stable_id
from mixtures.config import config_from_dict, resolved
from mixtures.spec import load_mixture
from pipeline import runner
from pipeline.cli import main as cli_main
from pipeline.report import NO_DATA, SECTIONS, write_report
from pipeline.report_data import Reservoir, load_cutoffs, mixture_weights, read_run
from stages.sinks import gzip_bytes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects headings, images and text; records tags that were opened and never closed."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.headings: list[str] = []
        self.images: list[dict[str, str]] = []
        self.text: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        if tag not in self.VOID:
            self.stack.append(tag)
        self._in_heading = tag in ("h1", "h2", "h3")

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()
        self._in_heading = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_heading and data.strip():
            self.headings.append(data.strip())


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert not page.errors, page.errors
    assert page.stack == [], f"unclosed tags: {page.stack}"
    return page


def _png_images(page: _Page) -> list[bytes]:
    out = []
    for img in page.images:
        src = img["src"]
        assert src.startswith("data:image/png;base64,"), src[:40]
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_MAGIC)
        out.append(data)
    return out


def _real_paragraphs(corpus: Path, n: int) -> list[str]:
    """Real text: paragraphs of Peter Pan from the sample corpus."""
    text = (corpus / "books" / "16-0-peter-pan.txt").read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 200]
    return paragraphs[:n]


def _write_shard(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode("utf-8")
    path.write_bytes(gzip_bytes(payload))


def _doc(i: int, text: str, source: str, annotations: dict, meta: dict | None = None) -> dict:
    return Document(stable_id(source, "f", i), text, source, meta or {"file": "f", "record": i}, annotations).to_dict()


@pytest.fixture()
def run_dir(tmp_path, corpus):
    """A run with a CC source (every annotation) and a Wikipedia source (meta.lang only)."""
    root = tmp_path / "run"
    models = tmp_path / "models" / "lm"
    models.mkdir(parents=True)
    # The layout filters/perplexity.py reads: percentiles 0..99 of held-out perplexity.
    (models / "en.cutoffs.json").write_text(json.dumps({"model_id": "en-test",
                                                        "percentiles": [100.0 + 8 * i for i in range(100)]}))
    cfg = config_from_dict({"output": str(root), "perplexity": {"model_dir": str(models)},
                            "quality": {"enabled": True, "threshold": 0.25},
                            "sources": {"cc": {"kind": "cc", "inputs": ["x"]},
                                        "wiki": {"kind": "wikipedia", "inputs": ["y"]}}})
    texts = _real_paragraphs(corpus, 40)
    kept, dropped = [], []
    for i, text in enumerate(texts[:20]):
        lang = "en" if i % 5 else "de"
        ann = {"lang_id": {"lang": lang, "lang_score": 0.9},
               "perplexity": {"perplexity": 100.0 + 40 * i, "bucket": "head" if i < 8 else "middle"},
               "quality_v1": {"wiki_prob": (i + 0.5) / 20}}
        (kept if lang == "en" else dropped).append(
            _doc(i, text, "cc", ann if lang == "en" else {**ann, "dropped": {"stage": "lang_id", "reason": "lang"}}))
    for i, text in enumerate(texts[20:30], start=20):
        dropped.append(_doc(i, text, "cc", {
            "lang_id": {"lang": "en", "lang_score": 0.95},
            "minhash": {"cluster_size": 2 if i < 26 else 5},
            "dropped": {"stage": "minhash", "reason": "near_duplicate"}}))
    _write_shard(root / "cc" / "docs" / "part-00000-of-00002.jsonl.gz", kept[:8])
    _write_shard(root / "cc" / "docs" / "part-00001-of-00002.jsonl.gz", kept[8:])
    _write_shard(root / "cc" / "dropped" / "part-00000-of-00001.jsonl.gz", dropped)
    quarantine = [{"source": "cc", "file": f"/data/cc/seg-{i}.warc.gz", "record": f"offset {1000 * i}",
                   "stage": "read", "error": "BadRecord: <truncated> & \"odd\" bytes"} for i in range(3)]
    _write_shard(root / "cc" / "quarantine" / "part-00000-of-00001.jsonl.gz", quarantine)
    n_lang = sum(1 for d in dropped if d["annotations"]["dropped"]["reason"] == "lang")
    cc_stats = {"source": "cc", "kind": "cc", "documents_in": len(kept) + len(dropped) + 3,
                "documents_out": len(kept), "dropped": {"lang": n_lang, "near_duplicate": len(dropped) - n_lang},
                "quarantined": 3, "config": resolved(cfg), "versions": {"apache-beam": "2.77.0"},
                "git_revision": "abc123",
                # What the runner records about the recipe's steps (no per-step funnel: an older run).
                "steps": ["lang_id_v1", "minhash_v1"],
                "seen_by_step": {"lang_id": len(kept) + len(dropped), "minhash": len(kept) + 10},
                "quarantined_by_step": {}}
    (root / "cc" / "stats.json").write_text(json.dumps(cc_stats))
    (root / "cc" / "timing.json").write_text(json.dumps({"pipeline_seconds": 12.5}))
    (root / "export").mkdir()
    (root / "export" / "manifest.json").write_text(json.dumps({
        "sources": {"cc": {"kind": "cc", "sequences": 40, "tokens": 10280, "epochs": 26.6, "llama_epochs": 1.1}},
        "warnings": ["cc is repeated 26.6 times (LLaMA: 1.1): the run holds too little cc for the blend"]}))
    wiki = [_doc(100 + i, text, "wikipedia", {}, {"lang": "en" if i < 7 else "uk"}) for i, text in
            enumerate(texts[30:40])]
    _write_shard(root / "wiki" / "docs" / "part-00000-of-00001.jsonl.gz", wiki)
    (root / "wiki" / "stats.json").write_text(json.dumps({
        "source": "wiki", "kind": "wikipedia", "documents_in": 10, "documents_out": 10, "dropped": {},
        "quarantined": 0, "config": resolved(cfg)}))
    (root / "wiki" / "tokens").mkdir()
    (root / "wiki" / "tokens" / "manifest.json").write_text(json.dumps({"format": "pasture-tokens-v1",
                                                                         "tokens": 12345}))
    return root


def test_report_has_every_section_and_one_png_per_plot(run_dir):
    out = write_report(run_dir)
    assert out == run_dir / "report.html"
    page = _parse(out)
    for title in SECTIONS:
        assert title in page.headings
    # mixture, drops, languages, perplexity, quality, clusters: all have data here.
    images = _png_images(page)
    assert [img["alt"] for img in page.images] == [
        "documents entering each step", "share per source vs target", "drops by stage and reason",
        "document length before and after filtering", "documents per language", "language-ID score histogram",
        "perplexity histogram", "wiki_prob histogram", "duplicates by cluster size"]
    assert len(set(images)) == 9
    text = "".join(page.text)
    assert NO_DATA not in text
    assert "Inconsistencies" not in text  # shards and stats.json agree
    assert "threshold 0.25" in text
    assert "en: no cutoffs file found" not in text  # en.cutoffs.json was found: p30 = 340, p60 = 580
    assert load_cutoffs(str(run_dir.parent / "models" / "lm"), "en", []) == {"p30": 340.0, "p60": 580.0}
    assert "de: no cutoffs file found" in text  # and the missing one is named
    # quarantine records are listed with file, record and error, escaped.
    assert "/data/cc/seg-2.warc.gz" in text and "offset 2000" in text
    assert 'BadRecord: <truncated> & "odd" bytes' in text
    assert "3 quarantined record(s)" in text
    # the run config is shown, and the self-contained page makes no external request.
    assert '"threshold": 0.25' in text
    # the export's epochs and its warning, and the timings.
    assert "cc is repeated 26.6 times" in text and "26.60" in text and "10280" in text
    assert "pipeline_seconds" in text
    html_text = out.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', html_text)


def test_report_aggregates_exact_counts(run_dir):
    figs = {f.name: f for f in read_run(run_dir)}
    cc, wiki = figs["cc"], figs["wiki"]
    assert cc.kept_docs == 16 and cc.problems == []
    assert cc.drops == {("lang_id", "lang"): 4, ("minhash", "near_duplicate"): 10}
    assert cc.lang_kept == {"en": 16} and cc.lang_dropped == {"de": 4, "en": 10}
    assert cc.cluster_sizes == {2: 6, 5: 4}
    assert sum(cc.quality_kept) + sum(cc.quality_dropped) == 20
    assert cc.perplexity_buckets[("head", "kept")] == 6
    assert wiki.lang_kept == {"en": 7, "uk": 3}
    assert wiki.tokens == 12345 and cc.tokens is None
    assert wiki.kept_bytes == sum(len(t.encode()) for t in _real_texts(run_dir / "wiki" / "docs"))


def _real_texts(folder: Path) -> list[str]:
    return [json.loads(line)["text"] for p in sorted(folder.iterdir())
            for line in gzip.decompress(p.read_bytes()).decode().splitlines()]


def test_sections_without_data_say_so_and_mismatches_are_shown(tmp_path):
    root = tmp_path / "run"
    (root / "books" / "docs").mkdir(parents=True)
    _write_shard(root / "books" / "docs" / "part-00000-of-00001.jsonl.gz",
                 [_doc(1, "A short real-looking line of a book.", "books", {})])
    (root / "books" / "stats.json").write_text(json.dumps({
        "kind": "books", "documents_in": 3, "documents_out": 2, "dropped": {"too_short": 1}, "quarantined": 0}))
    page = _parse(write_report(root, tmp_path / "r.html"))
    text = "".join(page.text)
    # only the mixture and length plots have data; the other sections say so.
    assert [img["alt"] for img in page.images] == ["share per source vs target",
                                                   "document length before and after filtering"]
    assert text.count(NO_DATA) == 10
    assert "no export found" in text
    assert "docs/ holds 1 documents, stats.json says 2" in text


def test_bad_shards_are_reported_not_fatal(tmp_path):
    root = tmp_path / "run"
    (root / "cc" / "docs").mkdir(parents=True)
    (root / "cc" / "docs" / "part-00000-of-00002.jsonl.gz").write_bytes(b"not gzip at all")
    good = gzip_bytes(b'{"id": "a", "text": "hi", "annotations": {}}\nnot json\n')
    (root / "cc" / "docs" / "part-00001-of-00002.jsonl.gz").write_bytes(good)
    (root / "cc" / "stats.json").write_text(json.dumps({"kind": "cc", "documents_out": 1}))
    [fig] = read_run(root)
    assert fig.kept_docs == 1
    assert any("part-00000-of-00002.jsonl.gz: unreadable" in p for p in fig.problems)
    assert any("1 line(s) are not JSON objects" in p for p in fig.problems)


def test_reservoir_keeps_a_bounded_deterministic_sample():
    a, b = Reservoir(100, seed=3), Reservoir(100, seed=3)
    for i in range(10_000):
        a.add(float(i))
        b.add(float(i))
    assert len(a.values) == 100 and a.seen == 10_000
    assert a.values == b.values
    assert max(a.values) > 5_000  # late values get in


def test_report_of_a_real_runner_output_via_cli(tmp_path, corpus, toy_source, capsys):
    # The toy kind (tests/toy_source) reads one document per line and drops short ones.
    book = tmp_path / "peter-pan.txt"
    paragraphs = [" ".join(p.split()) for p in _real_paragraphs(corpus, 10)]
    book.write_text("\n".join(paragraphs + ["Too short.", "Also short."]), encoding="utf-8")
    cfg = config_from_dict({"output": str(tmp_path / "out"), "shards": {"num_shards": 2},
                            "lines": {"min_chars": 100}, "minhash": {"enabled": False},
                            "sources": {"books": {"kind": "lines", "inputs": [str(book)]}}})
    runner.run_sources(cfg, ["books"])
    assert cli_main(["report", str(tmp_path / "out"), "--output", str(tmp_path / "page.html")]) == 0
    assert "report written to" in capsys.readouterr().out
    page = _parse(tmp_path / "page.html")
    text = "".join(page.text)
    assert "Inconsistencies" not in text
    assert "short_line=2" in text
    # the drop table lists stage and reason in separate cells (the sample section names both).
    assert text.count("lines_filter: short_line") == text.count("dropped by lines_filter: short_line") == 2
    rows = re.findall(r"<tr><td>books</td><td>lines_filter</td><td>short_line</td><td class=num>2</td></tr>",
                      (tmp_path / "page.html").read_text())
    assert len(rows) == 1
    assert [img["alt"] for img in page.images] == [
        "documents entering each step", "share per source vs target", "drops by stage and reason",
        "document length before and after filtering"]
    _png_images(page)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    out = write_report(run_dir)
    shot = tmp_path / "report.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,3000",
                    f"--screenshot={shot}", out.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert shot.is_file() and shot.read_bytes().startswith(PNG_MAGIC)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank canvas


def test_target_weights_are_the_mixture_file_and_fall_back_to_llama1(tmp_path):
    llama = {s.kind: s.weight for s in load_mixture("llama1").sources}
    weights, source = mixture_weights("llama1")
    assert weights == llama and source == "mixtures/llama1.yaml (arXiv:2302.13971, Table 1)"
    broken = tmp_path / "broken.yaml"
    broken.write_text("sources: [")
    assert mixture_weights(str(broken)) == (llama, source)
    assert mixture_weights("no-such-mixture") == (llama, source)


def test_funnel_examples_and_lengths(run_dir):
    from pipeline.report import funnel_rows

    figs = {f.name: f for f in read_run(run_dir)}
    cc = figs["cc"]
    assert funnel_rows(cc) == [
        {"step": "lang_id_v1", "in": 30, "dropped": 4, "quarantined": 0, "out": 26},
        {"step": "minhash_v1", "in": 26, "dropped": 10, "quarantined": 0, "out": 16}]
    # A fixed sample: the same documents on every read, at most 5 kept and 3 per drop reason.
    again = {f.name: f for f in read_run(run_dir)}["cc"]
    assert [e["id"] for e in cc.examples_kept.items()] == [e["id"] for e in again.examples_kept.items()]
    assert len(cc.examples_kept.items()) == 5
    assert {why: len(sample.items()) for why, sample in cc.examples_dropped.items()} == {
        ("lang_id", "lang"): 3, ("minhash", "near_duplicate"): 3}
    assert all(len(e["excerpt"]) <= 401 for e in cc.examples_kept.items())
    assert sum(cc.length_kept) == 16 and sum(cc.length_dropped) == 14
    assert sum(cc.lid_kept) == 16 and sum(cc.lid_dropped) == 14
    # A per-step funnel written by the pipeline takes precedence over the reconstruction.
    cc.stats["funnel"] = [{"step": "lang_id_v1", "in": 30, "out": 26, "dropped": {"lang": 4}, "quarantined": 0}]
    assert funnel_rows(cc)[0]["dropped"] == {"lang": 4}


def test_sample_documents_are_escaped(tmp_path, corpus):
    root = tmp_path / "run"
    text = "<script>alert('x')</script> & more " + "word " * 200
    _write_shard(root / "web" / "docs" / "part-00000-of-00001.jsonl.gz", [_doc(1, text, "web", {})])
    (root / "web" / "stats.json").write_text(json.dumps({"source": "web", "kind": "cc", "documents_in": 1,
                                                         "documents_out": 1, "dropped": {}, "quarantined": 0}))
    html_text = write_report(root).read_text(encoding="utf-8")
    assert "<script>alert" not in html_text and "&lt;script&gt;alert(&#x27;x&#x27;)" in html_text
