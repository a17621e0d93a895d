"""The dropped sample with shuffles on disk (issue 14: the launcher's memory stays flat): the
sampled documents wait in run files and only small handles cross stages, and the sample
written is byte for byte the one the in-memory path (Dataflow's) writes."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from filters.base import mark_dropped
from filters.document import Document, stable_id
from mixtures.config import config_from_dict
from pipeline.runner import run_sources
from stages.sinks import _BundleSampleDoFn, _load_sample

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "github" / "github_sample.jsonl.gz"


def _inputs(tmp_path: Path) -> Path:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    lines = gzip.decompress(SAMPLE.read_bytes()).splitlines(keepends=True)[::3]  # 241 files, every license
    (inputs / SAMPLE.name).write_bytes(gzip.compress(b"".join(lines), mtime=0))
    return inputs


def test_sample_on_disk_writes_the_same_bytes_as_the_in_memory_sample(tmp_path):
    inputs = _inputs(tmp_path)
    outputs = {}
    for mode in ("always", "never"):
        cfg = config_from_dict({"output": str(tmp_path / mode),
                                "shards": {"num_shards": 2, "max_dropped_per_reason": 2},
                                "sources": {"github": {"kind": "github", "inputs": [str(inputs)]}}})
        [result] = run_sources(cfg, ["github"], beam_args=[f"--shuffle_on_disk={mode}"])
        outputs[mode] = result.stats["outputs"]
    dropped = {k: v for k, v in outputs["always"].items() if k.startswith("dropped/")}
    assert sorted(dropped) == ["dropped/part-00000-of-00002.jsonl.gz", "dropped/part-00001-of-00002.jsonl.gz"]
    assert outputs["always"] == outputs["never"]


def _dropped_docs() -> list[Document]:
    docs = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            rec = json.loads(line)
            doc = Document(stable_id("github", SAMPLE.name, i), rec["content"], "github",
                           {"file": SAMPLE.name, "record": i})
            docs.append(mark_dropped(doc, "github_file", "too_long" if i % 3 else "generated"))
    return docs


def test_bundle_sample_leaves_handles_and_reads_back_the_chosen_documents(tmp_path):
    docs = _dropped_docs()
    sampler = _BundleSampleDoFn(5, str(tmp_path))
    sampler.start_bundle()
    for doc in docs:
        list(sampler.process(doc))
    out = [w.value for w in sampler.finish_bundle()]
    # Only (reason, (sha1, id, file, record, run path, position)) leave the bundle: no document.
    assert [reason for reason, _ in out] == ["generated"] * 5 + ["too_long"] * 5
    assert all(isinstance(part, (str, int)) for _, handle in out for part in handle)
    [run] = list(tmp_path.iterdir())
    assert all(handle[4] == str(run) for _, handle in out)
    by_id = {d.id: d for d in docs}
    for reason in ("generated", "too_long"):
        handles = [h for r, h in out if r == reason]
        chosen = sorted(handles)[:3]  # what Top.PerKey(3) would pick of this bundle's sample
        loaded = list(_load_sample((reason, chosen)))
        assert sorted(d.id for d in loaded) == sorted(h[1] for h in chosen)
        assert all(d == by_id[d.id] for d in loaded)
        # The bundle kept the 5 documents of the reason with the smallest sha1 of their id.
        ids = sorted((d.id for d in docs if d.annotations["dropped"]["reason"] == reason),
                     key=lambda i: hashlib.sha1(i.encode()).hexdigest())
        assert [h[1] for h in sorted(handles)] == ids[:5]
