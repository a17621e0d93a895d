"""BigQuery export rows of github_repos: typed as BigQuery writes JSON, ids per input name."""

from __future__ import annotations

import gzip
import io
import json

from filters.base import Dropped, InputFile
from filters.document import Document, stable_id
from filters.sources.github.config import GithubConfig
from filters.sources.github.reader import GithubReader

NAME = "export/000000000000.json.gz"


def _row(path: str, content: str | None, binary: bool = False, size: str = "10") -> str:
    return json.dumps({"repo_name": "dfm/celerite", "ref": "refs/heads/main", "path": path, "license": "mit",
                       "id": "ab" * 20, "size": size, "binary": binary, "content": content})


def test_export_rows_binary_rows_and_ids(corpus):
    records = [json.loads(line) for line in gzip.decompress(
        (corpus / "github" / "github_sample.jsonl.gz").read_bytes()).decode().splitlines()]
    real = next(r for r in records if r["repo_name"] == "dfm/celerite" and r["path"].endswith(".py"))
    size = str(len(real["content"].encode()))
    lines = [_row(real["path"], real["content"], size=size), _row("docs/logo.png", None, binary=True, size="4096"),
             _row("data/huge.csv", None, size="2000000")]
    data = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    reader = GithubReader("github", GithubConfig(max_file_bytes=1_000_000))
    items = list(reader.read_input(InputFile("/in/" + NAME, NAME), io.BytesIO(data)))
    [doc] = [i for i in items if isinstance(i, Document)]
    assert doc.text == real["content"] and doc.meta["size"] == int(size) and doc.meta["ref"] == "refs/heads/main"
    assert doc.id == stable_id("github", NAME, "dfm/celerite", real["path"], "refs/heads/main")
    assert [(d.doc.meta["path"], d.reason) for d in items if isinstance(d, Dropped)] == [
        ("docs/logo.png", "binary"), ("data/huge.csv", "too_large")]
    # The same export under another name: other ids; called without a name: the old ids.
    again = list(reader.read_input(InputFile("/in2/" + NAME, "copy/" + NAME), io.BytesIO(data)))
    assert again[0].id != doc.id
    assert next(iter(reader("/in/" + NAME, io.BytesIO(data)))).id == stable_id(
        "github", "dfm/celerite", real["path"], "refs/heads/main")
