"""Inputs over HTTP: the same real files served by a local server that throttles, resets and
stalls give the same outputs, byte for byte, as the local files; a URL that always fails is
quarantined with its URL and status and costs nothing else.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

from filters.base import InputFile
from mixtures.config import HttpSettings, config_from_dict
from pipeline.recipes import recipe_steps
from pipeline.runner import run_sources
from stages.steps import _ReadFileDoFn
from tests.http_fault_server import FaultServer

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
WARC = "cc/dolma-sample-0000.warc.gz"
WIKI = "wikipedia/enwiki-pages-articles-sample.xml.bz2"
POSTS = "stackexchange/coffee.stackexchange.com/Posts.xml"
HTTP = {"retries": 4, "backoff_base": 0.001, "backoff_max": 0.01, "timeout": 0.5}


def _served(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    for rel in (WARC, WIKI, POSTS):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / rel, root / rel)
    return root


def _config(output: Path, cc: list[str]) -> dict:
    # Steps that only see documents (line dedup, near dedup) are off: reading is what differs.
    return {
        "output": str(output),
        "sources": {"cc": {"kind": "cc", "inputs": cc}},
        "perplexity": {"enabled": False},
        "line_dedup": {"enabled": False},
        "minhash": {"enabled": False},
        "shards": {"num_shards": 2},
        "quarantine": {"max_step_share": 0.5},
        "http": HTTP,
    }


def _quarantine(directory: Path) -> list[dict]:
    records = []
    for path in sorted((directory / "quarantine").glob("part-*")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            records += [json.loads(line) for line in fh]
    return records


def _shards(stats: dict, kinds: tuple[str, ...] = ("docs", "dropped")) -> dict[str, str]:
    return {name: digest for name, digest in stats["outputs"].items() if name.split("/")[0] in kinds}


def test_a_run_over_urls_with_faults_gives_the_local_shards_and_a_dead_url_is_quarantined(tmp_path):
    root = _served(tmp_path)
    [local] = run_sources(config_from_dict(_config(tmp_path / "local", [str(root / WARC)])), ["cc"])
    with FaultServer(root) as server:
        server.inject(WARC, "503", "reset:40000", "slow:1.5")
        server.always["/cc/gone.warc.gz"] = 503
        dead = server.url("cc/gone.warc.gz")
        [remote] = run_sources(config_from_dict(_config(tmp_path / "remote", [server.url(WARC), dead])), ["cc"])

    assert local.stats["documents_out"] > 0
    assert _shards(remote.stats) == _shards(local.stats)
    assert remote.stats["quarantined"] == local.stats["quarantined"] + 1
    assert remote.stats["documents_in"] == local.stats["documents_in"] + 1
    [record] = [r for r in _quarantine(tmp_path / "remote" / "cc") if "gone" in r["file"]]
    assert (record["file"], record["stage"], record["record"]) == ("gone.warc.gz", "read", "after record 0")
    assert record["error"] == (f"HttpInputError: {dead}: gave up after 5 tries: HTTP 503 Service Unavailable "
                               f"(HTTP status 503, 0 bytes read)")


def _reader(kind: str, path: str) -> Any:
    cfg = config_from_dict({"sources": {kind: {"kind": kind, "inputs": [path]}}})
    return recipe_steps(cfg, cfg.source(kind), [path])[0].reader


def _read(kind: str, path: str) -> list[Any]:
    """Everything ReadSource's reading stage emits for one input, in order."""
    item = InputFile(path, path.rsplit("/", 1)[-1])
    return [getattr(out, "value", out) for out in _ReadFileDoFn(kind, _reader(kind, path), HttpSettings(**HTTP))
            .process(item)]


def test_every_reader_reads_a_url_as_its_local_file_through_resets_throttling_and_stalls(tmp_path):
    root = _served(tmp_path)
    with FaultServer(root) as server:
        server.inject(WARC, "reset:100000", "429", "short:150000")
        server.inject(WIKI, "503", "short:9000", "slow:1.5")
        server.inject(POSTS, "reset:100000", "503", "short:300000")
        for kind, rel in (("cc", WARC), ("wikipedia", WIKI), ("stackexchange", POSTS)):
            local = _read(kind, str(root / rel))
            assert len(local) >= 2 and not any(isinstance(out, dict) for out in local), kind
            assert _read(kind, server.url(rel)) == local, kind
        assert not any(server.faults.values())  # every fault was served


class _SwallowingReader:
    """A reader that catches read errors itself and yields what it got (readers must not be trusted with that)."""

    def __call__(self, path: str, fh: Any) -> Any:
        from filters.document import Document

        data = b""
        try:
            while chunk := fh.read(4096):
                data += chunk
        except OSError:
            pass
        yield Document("t/0", str(len(data)), "t", {"file": path})


def test_a_failure_the_reader_swallows_is_still_quarantined_with_url_status_and_bytes(tmp_path):
    root = _served(tmp_path)
    with FaultServer(root) as server:
        server.inject(WIKI, "short:1000", *["503"] * 5)
        out = list(_ReadFileDoFn("t", _SwallowingReader(), HttpSettings(**HTTP)).process(InputFile(server.url(WIKI))))
    doc, quarantine = out[0], out[1].value
    assert doc.id == "t/0"  # what the reader made of the short read is kept, and flagged:
    assert quarantine["record"] == "after record 1"
    size = (root / WIKI).stat().st_size
    assert quarantine["error"].endswith(f"gave up after 5 tries: HTTP 503 Service Unavailable "
                                        f"(HTTP status 503, 1000 of {size} bytes read)")
