"""Wikipedia and StackExchange readers on their published packaging, against the plain file, in one run.

Wikipedia: one dump (the real Ukrainian sample's pages, repeated) as plain ``.xml``, ``.bz2``,
``.gz`` and ``.xz``, and as a multistream ``.bz2`` read whole or as the byte ranges its index
plans. StackExchange: one ``Posts.xml`` (the real coffee and conlang rows, repeated) read
extracted and streamed out of a site ``.7z`` (libarchive), plus the bare member stream of
libarchive against py7zr's (in a bench virtualenv, ``--no-py7zr`` to skip). Then a row with a
huge ``Body`` (50 MB and 200 MB, default ``max_row_bytes``) in side processes: CPU time and
peak memory, to show both stay linear/bounded.

Figures are CPU seconds of this one process (best of ``--repeat``) and MB/s per core of
decompressed XML. Usage::

    .venv/bin/python bench/readers_archives.py --copies 3 --repeat 3
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import lzma
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from _common import CACHE, DEFAULT_CORPUS, best_of, emit, ensure_venv, loadavg, run_side  # noqa: E402

from filters.base import InputFile  # noqa: E402
from filters.sources.stackexchange.config import StackExchangeConfig  # noqa: E402
from filters.sources.stackexchange.reader import StackExchangeReader  # noqa: E402
from filters.sources.wikipedia.config import WikipediaConfig  # noqa: E402
from filters.sources.wikipedia.reader import WikipediaDumpReader  # noqa: E402
from pipeline.recipes.wikipedia import plan_units  # noqa: E402

UK = "ukwiki-20230501-pages-articles-multistream-first100k-lines.xml.bz2"
PAGE = re.compile(rb"  <page>.*?</page>\n", re.S)
PY7ZR_VENV = CACHE / "bench-venv-py7zr"


def _count(items) -> int:
    return sum(1 for _ in items)


def wiki_inputs(corpus: Path, copies: int, tmp: Path) -> tuple[int, dict[str, Path], Path]:
    raw = bz2.decompress((corpus / "wikipedia" / UK).read_bytes())
    header, pages = raw[: raw.index(b"  <page>")], PAGE.findall(raw) * copies
    xml = header + b"".join(pages) + b"</mediawiki>\n"
    files = {}
    for label, pack, suffix in (("plain .xml", bytes, ".xml"), (".xml.bz2", bz2.compress, ".xml.bz2"),
                                (".xml.gz", gzip.compress, ".xml.gz"), (".xml.xz", lzma.compress, ".xml.xz")):
        files[label] = tmp / f"ukwiki-20230501-pages-articles{suffix}"
        files[label].write_bytes(pack(xml))
    # Multistream as Wikimedia writes it: header stream, 100 pages per stream, and the index.
    data = bytearray(bz2.compress(header))
    index = []
    for at in range(0, len(pages), 100):
        offset = len(data)
        index += [b"%d:%d:t" % (offset, at + i) for i in range(len(pages[at: at + 100]))]
        data += bz2.compress(b"".join(pages[at: at + 100]) + (b"</mediawiki>\n" if at + 100 >= len(pages) else b""))
    multistream = tmp / "ukwiki-20230501-pages-articles-multistream.xml.bz2"
    multistream.write_bytes(bytes(data))
    (tmp / "ukwiki-20230501-pages-articles-multistream-index.txt.bz2").write_bytes(bz2.compress(b"\n".join(index)))
    return len(xml), files, multistream


def posts_inputs(corpus: Path, copies: int, tmp: Path) -> tuple[int, Path, Path]:
    rows = []
    header = b""
    for site in ("coffee.stackexchange.com", "conlang.meta.stackexchange.com"):
        raw = (corpus / "stackexchange" / site / "Posts.xml").read_bytes()
        first = raw.index(b"  <row ")
        header = header or raw[:first]
        rows += raw[first:].splitlines(keepends=True)[:-1]  # without </posts>
    # Each copy's bodies and titles get their letters rotated (copy k: by k mod 26), so the
    # copies do not repeat within LZMA's dictionary: a .7z of verbatim copies would shrink to
    # nothing and decode unrealistically fast.
    lower, upper = bytes(range(97, 123)), bytes(range(65, 91))
    out = []
    for copy in range(copies):
        shift = copy % 26
        table = bytes.maketrans(lower + upper, lower[shift:] + lower[:shift] + upper[shift:] + upper[:shift])
        out += [_rotate_text(row, table) for row in rows]
    xml = header + b"".join(out) + b"</posts>\n"
    folder = tmp / "bench.stackexchange.com"
    folder.mkdir()
    plain = folder / "Posts.xml"
    plain.write_bytes(xml)
    import libarchive

    archive = tmp / "bench.stackexchange.com.7z"
    with libarchive.file_writer(str(archive), "7zip") as out:
        out.add_file_from_memory("Posts.xml", len(xml), xml)
    return len(xml), plain, archive


_TEXT_ATTR = re.compile(rb'( (?:Body|Title)=")([^"]*)(")')


_ENTITY = re.compile(rb"(&[#A-Za-z0-9]+;)")


def _rotate_text(row: bytes, table: bytes) -> bytes:
    """Letters of Body and Title rotated, entities (``&lt;``) left intact."""

    def rotate(value: bytes) -> bytes:
        return b"".join(part if _ENTITY.fullmatch(part) else part.translate(table) for part in _ENTITY.split(value))

    return _TEXT_ATTR.sub(lambda m: m.group(1) + rotate(m.group(2)) + m.group(3), row)


def _read_file(reader, path: Path, item: InputFile | None = None) -> int:
    with open(path, "rb") as fh:
        return _count(reader.read_input(item, fh) if item is not None else reader(str(path), fh))


def libarchive_member(path: Path) -> int:
    from filters.sources.stackexchange.archive import posts_chunks

    with open(path, "rb") as fh:
        return sum(len(block) for block in posts_chunks(fh, str(path)))


def py7zr_member(path: Path) -> dict:
    """Side process in the py7zr venv: Posts.xml decompressed by py7zr and discarded.

    py7zr 1.x pushes a member into a ``WriterFactory`` (no pull-style stream): feeding our
    reader from it would need a thread and a bounded queue on top of this cost.
    """
    code = (
        "import sys, time, json, py7zr, py7zr.io\n"
        "best = 1e9\n"
        "for _ in range(int(sys.argv[2])):\n"
        "    t = time.process_time()\n"
        "    with py7zr.SevenZipFile(sys.argv[1]) as z:\n"
        "        size = z.getinfo('Posts.xml').uncompressed\n"
        "        z.extract(targets=['Posts.xml'], factory=py7zr.io.NullIOFactory())\n"
        "    best = min(best, time.process_time() - t)\n"
        "print('BENCH-RESULT ' + json.dumps({'cpu': best, 'bytes': size, 'version': py7zr.__version__}))\n"
    )
    python = ensure_venv(PY7ZR_VENV, ["py7zr==1.1.4"])
    return run_side([str(python), "-c", code, str(path), "3"])


def huge_row_side(size: int) -> None:
    """One Posts.xml with a ``size``-byte Body, generated lazily: CPU and peak RSS of reading it."""

    class Lazy(io.RawIOBase):
        def __init__(self) -> None:
            self.parts = [b'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n  <row Id="1" PostTypeId="1" Score="1" '
                          b'Title="t" Body="']
            self.left = size
            self.tail = b'" />\n  <row Id="2" PostTypeId="2" ParentId="1" Score="1" Body="ok" />\n</posts>\n'

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:
            if self.parts:
                data = self.parts.pop()
            elif self.left:
                data = b"x" * min(self.left, len(buf))
                self.left -= len(data)
            elif self.tail:
                data, self.tail = self.tail, b""
            else:
                return 0
            buf[: len(data)] = data
            return len(data)

    reader = StackExchangeReader("stackexchange", StackExchangeConfig())
    start = time.process_time()
    items = list(reader("bench.stackexchange.com/Posts.xml", io.BufferedReader(Lazy(), 1 << 20)))
    cpu = time.process_time() - start
    emit({"cpu": cpu, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
          "items": [type(i).__name__ for i in items]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-py7zr", action="store_true")
    parser.add_argument("--huge-row", type=int, help=argparse.SUPPRESS)  # side process
    args = parser.parse_args()
    if args.huge_row:
        huge_row_side(args.huge_row)
        return
    corpus = Path(args.corpus)
    print(f"load average {loadavg()}; CPU seconds of one process, best of {args.repeat}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "wiki").mkdir()
        xml_bytes, files, multistream = wiki_inputs(corpus, args.copies, tmp / "wiki")
        reader = WikipediaDumpReader("wikipedia", WikipediaConfig(languages=("uk",)))
        peer = None
        for label, path in files.items():
            cpu, docs = best_of(args.repeat, lambda p=path: _read_file(reader, p), time.process_time)
            peer = peer or cpu
            rows.append(("wikipedia " + label, docs, xml_bytes, path.stat().st_size, cpu, peer))
        cpu, docs = best_of(args.repeat, lambda: _read_file(reader, multistream), time.process_time)
        rows.append(("wikipedia multistream whole", docs, xml_bytes, multistream.stat().st_size, cpu, peer))
        units = plan_units([str(multistream)], split_bytes=max(1, multistream.stat().st_size // 8))
        cpu, docs = best_of(args.repeat, lambda: sum(_read_file(reader, multistream, u) for u in units),
                            time.process_time)
        rows.append((f"wikipedia multistream {len(units)} ranges", docs, xml_bytes, multistream.stat().st_size,
                     cpu, peer))

        (tmp / "se").mkdir()
        posts_bytes, plain, archive = posts_inputs(corpus, args.copies * 40, tmp / "se")
        se = StackExchangeReader("stackexchange", StackExchangeConfig())
        cpu_plain, docs = best_of(args.repeat, lambda: _read_file(se, plain), time.process_time)
        rows.append(("stackexchange Posts.xml (extracted)", docs, posts_bytes, plain.stat().st_size, cpu_plain,
                     cpu_plain))
        cpu, docs = best_of(args.repeat, lambda: _read_file(se, archive), time.process_time)
        rows.append(("stackexchange site .7z (libarchive)", docs, posts_bytes, archive.stat().st_size, cpu,
                     cpu_plain))
        cpu_member, size = best_of(args.repeat, lambda: libarchive_member(archive), time.process_time)
        rows.append(("  .7z member only: libarchive", "-", size, archive.stat().st_size, cpu_member, cpu_member))
        if not args.no_py7zr:
            side = py7zr_member(archive)
            rows.append((f"  .7z member only: py7zr {side['version']}", "-", side["bytes"],
                         archive.stat().st_size, side["cpu"], cpu_member))

    print(f"\n{'reader':42s} {'docs':>6s} {'MB xml':>8s} {'MB disk':>8s} {'cpu s':>7s} {'MB/s/core':>10s} "
          f"{'vs peer':>8s}")
    for label, docs, size, disk, cpu, peer_cpu in rows:
        print(f"{label:42s} {docs!s:>6s} {size / 1e6:8.2f} {disk / 1e6:8.2f} {cpu:7.3f} {size / 1e6 / cpu:10.2f} "
              f"{peer_cpu / cpu:7.2f}x")
    print("\nhuge Body row (default max_row_bytes, quarantined), side process each:")
    for size in (50_000_000, 200_000_000):
        side = run_side([sys.executable, str(Path(__file__).resolve()), "--huge-row", str(size)], core=None)
        print(f"  Body {size / 1e6:5.0f} MB: cpu {side['cpu']:6.2f} s, peak RSS {side['maxrss_mb']:6.0f} MB, "
              f"items {side['items']}")


if __name__ == "__main__":
    main()
