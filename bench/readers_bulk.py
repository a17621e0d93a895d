"""Bulk readers against their plain-file peers, MB/s per core, measured in one run.

* arXiv: a bulk ``arXiv_src_YYMM_NNN.tar`` (members ``YYMM/<id>.gz``) vs the same papers as
  loose ``<id>.tar.gz`` files (the per-paper download), both through ``ArxivReader``.
* Books: a Books3-style ``books3.tar.gz`` vs the same books as loose ``.txt`` files.
* C4: the released ``c4-train.*.json.gz`` vs the same lines as plain ``.json``.

Inputs are the real corpus files (``../shared/corpus``, ``--corpus``) repackaged in a temp
folder, each paper/book/page repeated ``--copies`` times under distinct names. Time is CPU
seconds of this one process (``time.process_time``: one core), best of ``--repeat``. MB is
the text the reader delivers decompressed (papers: the bytes of every member's content; books
and pages: UTF-8 text), so a row and its peer divide the same MB by their own time.

    .venv/bin/python bench/readers_bulk.py --copies 20 --repeat 3
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tarfile
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from _common import DEFAULT_CORPUS, best_of, loadavg  # noqa: E402

from filters.base import InputFile  # noqa: E402
from filters.document import Document  # noqa: E402
from filters.sources.arxiv.config import ArxivConfig  # noqa: E402
from filters.sources.arxiv.reader import ArxivReader  # noqa: E402
from filters.sources.books.config import BooksConfig  # noqa: E402
from filters.sources.books.reader import BooksReader  # noqa: E402
from filters.sources.c4.released import ReleasedC4Reader  # noqa: E402


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _read(reader, paths: list[Path], root: Path) -> tuple[int, int]:
    docs = chars = 0
    for path in paths:
        with open(path, "rb") as fh:
            for item in reader.read_input(InputFile(str(path), path.relative_to(root).as_posix()), fh):
                if isinstance(item, Document):
                    docs += 1
                    chars += len(item.text.encode("utf-8"))
    return docs, chars


def arxiv_inputs(corpus: Path, work: Path, copies: int) -> tuple[list[Path], list[Path], int]:
    papers = sorted((corpus / "arxiv").glob("*.tar.gz"))
    loose_dir = work / "arxiv-loose"
    loose_dir.mkdir()
    bulk = work / "arXiv_src_1703_001.tar"
    loose, content = [], 0
    with tarfile.open(bulk, "w") as tar:
        for copy in range(copies):
            for index, paper in enumerate(papers):
                ident = f"1703.{copy * len(papers) + index:05d}"
                data = paper.read_bytes()
                _add(tar, f"1703/{ident}.gz", data)
                (loose_dir / f"{ident}.tar.gz").write_bytes(data)
                loose.append(loose_dir / f"{ident}.tar.gz")
                with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                    content += sum(m.size for m in inner.getmembers() if m.isfile())
    return [bulk], loose, content


def books_inputs(corpus: Path, work: Path, copies: int) -> tuple[list[Path], list[Path]]:
    books = sorted((corpus / "books").glob("*.txt"))
    loose_dir = work / "books-loose"
    loose_dir.mkdir()
    tarball = work / "books3.tar.gz"
    loose = []
    with tarfile.open(tarball, "w:gz") as tar:
        for copy in range(copies):
            for book in books:
                title = f"{book.stem}-{copy:03d}"
                _add(tar, f"books3/the-eye.eu/public/Books/Bibliotik/{title[0].upper()}/{title}.epub.txt",
                     book.read_bytes())
                (loose_dir / f"{title}.txt").write_bytes(book.read_bytes())
                loose.append(loose_dir / f"{title}.txt")
    return [tarball], loose


def c4_inputs(corpus: Path, work: Path, copies: int) -> tuple[list[Path], list[Path]]:
    from filters.sources.cc.extract import html_to_text
    from filters.sources.cc.warc import read_warc

    lines = []
    for path in sorted((corpus / "cc-pages").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for page in read_warc(str(path), fh):
                text = html_to_text(page.text)[0].strip() if isinstance(page, Document) else ""
                if text:
                    lines.append(json.dumps({"text": text, "timestamp": page.meta["date"], "url": page.meta["url"]}))
    body = ("\n".join(lines) + "\n").encode() * copies
    gz = work / "c4-train.00000-of-01024.json.gz"
    plain = work / "c4-plain" / "c4-train.00000-of-01024.json"
    plain.parent.mkdir()
    gz.write_bytes(gzip.compress(body, compresslevel=6))
    plain.write_bytes(body)
    return [gz], [plain]


def measure(label: str, reader, paths: list[Path], root: Path, repeat: int, mb: float | None = None) -> dict:
    seconds, (docs, text_bytes) = best_of(repeat, lambda: _read(reader, paths, root), clock=time.process_time)
    size = mb if mb is not None else text_bytes / 1e6
    disk = sum(p.stat().st_size for p in paths) / 1e6
    return {"label": label, "docs": docs, "mb": size, "disk_mb": disk, "seconds": seconds, "mb_s": size / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[dict, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bulk, loose, content = arxiv_inputs(args.corpus, work, args.copies)
        arxiv = ArxivReader("arxiv", ArxivConfig())
        rows.append((measure("arxiv bulk arXiv_src_*.tar", arxiv, bulk, work, args.repeat, content / 1e6),
                     measure("  peer: loose <id>.tar.gz", arxiv, loose, work, args.repeat, content / 1e6)))
        tarball, loose = books_inputs(args.corpus, work, max(1, args.copies // 4))
        books = BooksReader("books", BooksConfig())
        rows.append((measure("books3.tar.gz (streamed)", books, tarball, work, args.repeat),
                     measure("  peer: loose .txt", books, loose, work, args.repeat)))
        gz, plain = c4_inputs(args.corpus, work, args.copies)
        c4 = ReleasedC4Reader("c4")
        rows.append((measure("c4 released .json.gz", c4, gz, work, args.repeat),
                     measure("  peer: same lines, plain .json", c4, plain, work, args.repeat)))
    print(f"copies={args.copies} repeat={args.repeat} load average {loadavg()}")
    print(f"{'reader':<34}{'docs':>7}{'MB text':>9}{'MB disk':>9}{'cpu s':>8}{'MB/s/core':>11}{'vs peer':>9}")
    for ours, peer in rows:
        for row in (ours, peer):
            ratio = f"{row['mb_s'] / peer['mb_s']:.2f}x" if row is ours else ""
            print(f"{row['label']:<34}{row['docs']:>7}{row['mb']:>9.2f}{row['disk_mb']:>9.2f}"
                  f"{row['seconds']:>8.3f}{row['mb_s']:>11.2f}{ratio:>9}")


if __name__ == "__main__":
    main()
