"""Input resolution (pipeline/inputs.py): names for ids, Common Crawl listings, no silent skips,
non-UTF-8 file names, and an output folder inside an input folder.

Real files from ``samples/`` are laid out the way publishers ship them inside ``tmp_path``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest

from filters.base import InputFile
from mixtures.config import ConfigError, HttpSettings, config_from_dict
from pipeline import cli
from pipeline.inputs import ListingOptions, resolve, skipped_inputs
from pipeline.runner import run_sources, summary_table
from stages.steps import _ReadFileDoFn
from tests.http_fault_server import FaultServer

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
WARCS = ("dolma-sample-0000.warc.gz", "resiliparse-CC-MAIN-2020-34-sample.warc.gz", "whirlwind.warc.wet.gz")
SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".arc.gz")
# Six entries as in a snapshot's warc.paths.gz / wet.paths.gz, pointing at copies of real files.
ENTRIES = [f"crawl-data/CC-MAIN-2020-34/segments/160{n}/{'wet' if n == 2 else 'warc'}/{n}-{WARCS[n % 3]}"
           for n in range(6)]


def _mirror(tmp_path: Path) -> tuple[Path, Path]:
    """A local mirror of six listed files and its ``warc.paths.gz``."""
    base = tmp_path / "mirror"
    for n, entry in enumerate(ENTRIES):
        (base / entry).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / "cc" / WARCS[n % 3], base / entry)
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress(("\n".join(ENTRIES) + "\n").encode()))
    return base, listing


def test_listing_resolves_entries_against_the_base_with_first_n_and_every_kth(tmp_path):
    base, listing = _mirror(tmp_path)
    every = resolve([str(listing)], "cc", SUFFIXES, listing=ListingOptions(base_url=str(base)))
    assert [f.name for f in every.files] == sorted(ENTRIES)
    assert [f.path for f in every.files] == [str(base / e) for e in sorted(ENTRIES)]
    first = resolve([str(listing)], "cc", SUFFIXES, listing=ListingOptions(base_url=str(base), limit=2))
    assert [f.name for f in first.files] == ENTRIES[:2]
    strided = resolve([str(listing)], "cc", SUFFIXES, listing=ListingOptions(base_url=str(base), stride=2))
    assert [f.name for f in strided.files] == [ENTRIES[0], ENTRIES[2], ENTRIES[4]]
    both = resolve([str(listing)], "cc", SUFFIXES, listing=ListingOptions(base_url=str(base), stride=2, limit=2))
    assert [f.name for f in both.files] == [ENTRIES[0], ENTRIES[2]]
    # The default base is the public Common Crawl host; nothing is fetched to resolve.
    public = resolve([str(listing)], "cc", SUFFIXES, listing=ListingOptions(limit=1))
    assert public.paths == [f"https://data.commoncrawl.org/{ENTRIES[0]}"]


def test_listing_over_http_resolves_to_urls_that_serve_the_listed_files(tmp_path):
    base, listing = _mirror(tmp_path)
    shutil.copyfile(listing, base / "warc.paths.gz")
    fast = HttpSettings(retries=2, backoff_base=0.001, backoff_max=0.01)
    with FaultServer(base) as server:
        server.inject("warc.paths.gz", "503")
        resolved = resolve([server.url("warc.paths.gz")], "c4", SUFFIXES, http=fast,
                           listing=ListingOptions(base_url=server.url(""), stride=3))
        assert [(f.path, f.name) for f in resolved.files] == [(server.url(ENTRIES[0]), ENTRIES[0]),
                                                              (server.url(ENTRIES[3]), ENTRIES[3])]
        from stages.http_input import fetch

        assert fetch(resolved.files[1].path, fast) == (SAMPLES / "cc" / WARCS[0]).read_bytes()


def test_rebuild_base_url_reads_the_listed_subset(tmp_path, capsys):
    base, listing = _mirror(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"perplexity": {"enabled": False}, "line_dedup": {"enabled": False},
                                  "minhash": {"enabled": False}, "shards": {"num_shards": 1},
                                  "cc": {"listing_stride": 2, "listing_limit": 2}}))
    out = tmp_path / "out"
    assert cli.main(["rebuild", "cc", "--input", str(listing), "--base-url", str(base), "--output", str(out),
                     "--config", str(config)]) == 0
    stats = json.loads((out / "cc" / "stats.json").read_text())
    assert stats["config"]["cc"] == {"base_url": str(base), "listing_limit": 2, "listing_stride": 2}
    # Entries 0 and 2 (the dolma WARC and the WET file), named by their entries.
    assert _files_read(out / "cc") == {ENTRIES[0], ENTRIES[2]}
    assert cli.main(["rebuild", "books", "--input", str(listing), "--base-url", str(base),
                     "--output", str(out)]) == 2
    assert "--base-url applies to sources that read Common Crawl listings" in capsys.readouterr().err


def _files_read(source_dir: Path) -> set[str]:
    """``meta.file`` of every document kept or dropped."""
    files = set()
    for sub in ("docs", "dropped"):
        for shard in (source_dir / sub).glob("part-*"):
            with gzip.open(shard, "rt", encoding="utf-8") as fh:
                files |= {json.loads(line)["meta"]["file"] for line in fh}
    return files


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "crawl"
    (folder / "sub").mkdir(parents=True)
    shutil.copyfile(SAMPLES / "cc" / WARCS[0], folder / WARCS[0])
    shutil.copyfile(SAMPLES / "cc" / WARCS[2], folder / "sub" / WARCS[2])
    # A file name that is not UTF-8 (Latin-1 "café"), as a Windows-made archive may hold.
    shutil.copyfile(SAMPLES / "cc" / WARCS[1], os.path.join(os.fsencode(folder), b"caf\xe9.warc.gz"))
    (folder / "README.md").write_text("about this crawl\n")
    (folder / ".listing.swp").write_bytes(b"x")
    (folder / "warc.paths.gz").write_bytes(gzip.compress(b"x\n"))
    (folder / "sub" / "index.cdx").write_text("cdx\n")
    return folder


def test_folder_files_are_read_or_listed_with_a_reason(tmp_path):
    folder = _folder(tmp_path)
    resolved = resolve([str(folder)], "cc", SUFFIXES)
    assert sorted(f.name for f in resolved.files) == sorted(["caf\\xe9.warc.gz", WARCS[0], f"sub/{WARCS[2]}"])
    reasons = {os.path.relpath(s.path, folder): s.reason for s in resolved.skipped}
    suffixes = "not a cc input file: the name ends in none of .warc, .warc.gz, .wet, .wet.gz, .arc.gz"
    assert reasons == {".listing.swp": "hidden file", "README.md": "documentation file",
                       "warc.paths.gz": suffixes, "sub/index.cdx": suffixes}


def test_a_run_over_the_folder_reads_the_non_utf8_name_and_reports_skips(tmp_path):
    folder = _folder(tmp_path)
    out = tmp_path / "out"
    cfg = config_from_dict({"output": str(out), "sources": {"cc": {"kind": "cc", "inputs": [str(folder)]}},
                            "perplexity": {"enabled": False}, "line_dedup": {"enabled": False},
                            "minhash": {"enabled": False}, "shards": {"num_shards": 1}})
    [result] = run_sources(cfg, ["cc"])
    stats = json.loads((out / "cc" / "stats.json").read_text(encoding="utf-8"))
    assert [(os.path.relpath(s["path"], folder), s["reason"]) for s in stats["skipped_inputs"]][:2] == [
        (".listing.swp", "hidden file"), ("README.md", "documentation file")]
    assert len(stats["skipped_inputs"]) == 4
    assert "cc: 4 file(s) under its input folders not read" in summary_table([result])
    assert _files_read(out / "cc") == {"caf\\xe9.warc.gz", WARCS[0], f"sub/{WARCS[2]}"}
    assert stats["quarantined"] == 0


def test_recipe_level_skips_are_listed_too(tmp_path):
    site = tmp_path / "dumps" / "coffee.stackexchange.com"
    site.mkdir(parents=True)
    shutil.copyfile(SAMPLES / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml", site / "Posts.xml")
    (site / "Users.xml").write_text("<users/>\n")
    cfg = config_from_dict({"sources": {"se": {"kind": "stackexchange", "inputs": [str(tmp_path / "dumps")]}}})
    assert skipped_inputs(cfg, "se") == [{"path": str(site / "Users.xml"),
                                          "reason": "not read as documents by the stackexchange recipe"}]


def test_an_output_folder_inside_an_input_folder_is_refused_before_any_work(tmp_path):
    folder = _folder(tmp_path)
    cfg = config_from_dict({"output": str(folder / "runs" / "a"),
                            "sources": {"cc": {"kind": "cc", "inputs": [str(folder)]}}})
    with pytest.raises(ConfigError, match=r"cc: the output folder .*/crawl/runs/a is inside the input folder"):
        run_sources(cfg, ["cc"])
    assert not (folder / "runs").exists()


def test_two_inputs_with_one_name_are_refused(tmp_path):
    for part in ("a", "b"):
        (tmp_path / part).mkdir()
        shutil.copyfile(SAMPLES / "cc" / WARCS[0], tmp_path / part / WARCS[0])
    with pytest.raises(ConfigError, match=f"two inputs have the name '{WARCS[0]}'"):
        resolve([str(tmp_path / "a" / WARCS[0]), str(tmp_path / "b" / WARCS[0])], "cc", SUFFIXES)
    # Their common folder names each by its path inside it.
    names = [f.name for f in resolve([str(tmp_path)], "cc", SUFFIXES).files]
    assert names == [f"a/{WARCS[0]}", f"b/{WARCS[0]}"]


class _NamedReader:
    """A reader with ``read_input``: records what it was given."""

    def read_input(self, item, fh):
        from filters.document import Document

        yield Document(f"t/{item.name}", fh.read(4).hex(), "t", {"file": item.name, "path": item.path})


def test_readers_get_input_files_with_names_and_recipe_strings_are_named(tmp_path):
    folder = _folder(tmp_path)
    resolved = resolve([str(folder)], "cc", SUFFIXES)
    path = str(folder / "sub" / WARCS[2])
    derived = str(folder / "sub" / "derived.txt")  # a file a recipe names that resolution did not list
    assert resolved.input_files([path, derived, InputFile(path, "", 5, 9)]) == [
        InputFile(path, f"sub/{WARCS[2]}"), InputFile(derived, "sub/derived.txt"),
        InputFile(path, f"sub/{WARCS[2]}", 5, 9)]
    [doc] = list(_ReadFileDoFn("t", _NamedReader()).process(InputFile(path, f"sub/{WARCS[2]}")))
    assert (doc.id, doc.text) == (f"t/sub/{WARCS[2]}", "1f8b0800")
