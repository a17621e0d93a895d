"""Hostile WARC inputs cost time linear in their size and flat memory (issue 17.3).

Each case reads one file with ``read_warc`` in its own child process, which reports its wall
time and its own peak RSS (``ru_maxrss``), so one case's memory never hides in another's:

* ``clean``: the real crawl ``dolma-sample-0000.warc.gz`` (plain, decompressed): the peer every
  figure is quoted against, measured in the same run;
* ``header-line N MB``: the same crawl as a plain ``.warc`` with one WARC header line of N MB
  without a line break (16, 64, 256 MB). Before this reader: 64 MB took 54 s, 200 MB was
  killed at 400 s (quadratic). Now the header block stops at ``extract.max_header_bytes`` and
  the reader scans forward for the next record: linear in N;
* ``zero bomb N×``: a gzip member inflating to N × 2 GiB of zeros (2.1 MB compressed per 2 GiB,
  as in the issue), no WARC header, between two records of the gzip crawl;
* ``CR/LF bomb N×``: a real record followed, in its own gzip member, by N × 2 GiB of CR/LF
  (whitespace a reader would skip): inflating stops at ``extract.max_record_bytes``.

Every case must quarantine exactly one record and keep every other document of the crawl.

    .venv/bin/python bench/warc_hostile.py [--corpus ../shared/corpus] [--sizes 16,64,256] [--bombs 1,4,16]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from _common import DEFAULT_CORPUS, RESULT_PREFIX  # noqa: E402

CRAWL = "dolma-sample-0000.warc.gz"
MIB = 1 << 20
GIB = 1 << 30


def _members(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        inflater = zlib.decompressobj(31)
        inflater.decompress(data[pos:])
        end = len(data) - len(inflater.unused_data)
        out.append(data[pos:end])
        pos = end
    return out


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _unit_mib(unit: bytes) -> bytes:
    return (unit * (MIB // len(unit) + 1))[:MIB]


def _deflate_blocks(unit: bytes, size: int) -> bytes:
    """Raw deflate data for ``size`` bytes (a multiple of 1 MiB) of ``unit`` repeated, ending with
    the final block, built in constant time: one self-contained block per MiB, repeated."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(_unit_mib(unit)) + deflate.flush(zlib.Z_FULL_FLUSH)
    return block * (size // MIB) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def _trailer(prefix: bytes, unit: bytes, size: int) -> bytes:
    """The gzip trailer (CRC-32, size mod 2^32) of ``prefix`` + ``size`` bytes of ``unit``."""
    piece = _unit_mib(unit)
    crc = zlib.crc32(prefix)
    for _ in range(size // MIB):
        crc = zlib.crc32(piece, crc)
    return struct.pack("<II", crc, (len(prefix) + size) & 0xFFFFFFFF)


def _bomb(unit: bytes, size: int, prefix: bytes = b"") -> bytes:
    """One valid gzip member: ``prefix`` then ``size`` bytes of ``unit``."""
    head = b""
    if prefix:
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    return GZIP_HEADER + head + _deflate_blocks(unit, size) + _trailer(prefix, unit, size)


def build_cases(corpus: Path, work: Path, sizes: list[int], bombs: list[int]) -> list[tuple[str, Path, int]]:
    """``(label, file, size factor)`` for every case, written under ``work``."""
    packed = (corpus / "cc" / CRAWL).read_bytes()
    members = _members(packed)
    plain = gzip.decompress(packed)
    first_response = plain.find(b"WARC-Type: response")
    cases = []
    clean = work / "clean.warc"
    clean.write_bytes(plain)
    cases.append(("clean", clean, 0))
    for size in sizes:
        path = work / f"header-{size}.warc"
        with open(path, "wb") as out:
            out.write(plain[:first_response] + b"WARC-Junk: ")
            line = b"x" * MIB
            for _ in range(size):
                out.write(line)
            out.write(b"\r\n" + plain[first_response:])
        cases.append((f"header-line {size} MB", path, size))
    responses = [i for i, m in enumerate(members) if b"WARC-Type: response" in zlib.decompress(m, 31)[:400]]
    for factor in bombs:
        path = work / f"zero-bomb-{factor}.warc.gz"
        path.write_bytes(b"".join(members[:6]) + _bomb(b"\0", factor * 2 * GIB) + b"".join(members[6:]))
        cases.append((f"zero bomb {factor}×", path, factor))
    for factor in bombs:
        index = responses[2]
        member = _bomb(b"\r\n", factor * 2 * GIB, prefix=zlib.decompress(members[index], 31))
        path = work / f"crlf-bomb-{factor}.warc.gz"
        path.write_bytes(b"".join(members[:index]) + member + b"".join(members[index + 1:]))
        cases.append((f"CR/LF bomb {factor}×", path, factor))
    return cases


def child(path: str) -> None:
    """Reads ``path`` once; prints time, peak RSS and what came out."""
    from filters.base import QuarantineRecord
    from filters.document import Document
    from filters.sources.cc.warc import read_warc

    started = time.perf_counter()
    docs = quarantined = 0
    reasons = []
    with open(path, "rb") as fh:
        for item in read_warc(path, fh):
            if isinstance(item, Document):
                docs += 1
            elif isinstance(item, QuarantineRecord):
                quarantined += 1
                reasons.append(re.split(r"[:;(]", item.error)[0].strip())
    seconds = time.perf_counter() - started
    print(RESULT_PREFIX + json.dumps({"seconds": seconds, "peak_rss": _peak_rss(), "docs": docs,
                                      "quarantined": quarantined, "reasons": reasons}))


def _peak_rss() -> int:
    """This process's peak RSS in bytes: VmHWM, which (unlike ``ru_maxrss``) starts afresh at exec,
    so the parent's memory at fork time does not show up here."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_case(path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith(RESULT_PREFIX))
    return json.loads(line[len(RESULT_PREFIX):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--sizes", default="16,64,256", help="header line sizes, MB")
    parser.add_argument("--bombs", default="1,4,16", help="bomb sizes, multiples of 2 GiB inflated")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    corpus = Path(args.corpus)
    if not (corpus / "cc" / CRAWL).is_file():
        corpus = BENCH.parent / "samples" / "corpus"
        if not (corpus / "cc" / CRAWL).is_file():
            corpus = BENCH.parent / "samples"
            (corpus / "cc" / CRAWL).stat()
    sizes = [int(x) for x in args.sizes.split(",")]
    bombs = [int(x) for x in args.bombs.split(",")]
    with tempfile.TemporaryDirectory(prefix="warc-hostile-") as tmp:
        cases = build_cases(corpus, Path(tmp), sizes, bombs)
        results = []
        for label, path, factor in cases:
            result = run_case(path)
            results.append((label, path.stat().st_size, factor, result))
    peer = results[0][3]
    print(f"{'case':<22} {'file MB':>9} {'read s':>8} {'× clean':>8} {'peak RSS MiB':>13}  docs  quarantined (reason)")
    for label, size, _, result in results:
        ratio = result["seconds"] / peer["seconds"]
        reasons = ", ".join(sorted(set(result["reasons"])))
        print(f"{label:<22} {size / 1e6:>9.1f} {result['seconds']:>8.3f} {ratio:>8.1f} "
              f"{result['peak_rss'] / MIB:>13.0f}  {result['docs']:>4}  {result['quarantined']} ({reasons})")
        # The header line and the CR/LF bomb damage one page; the zero bomb is a member more.
        lost = 1 if label.startswith(("header-line", "CR/LF")) else 0
        expected = (peer["docs"] - lost, 0 if label == "clean" else 1)
        if (result["docs"], result["quarantined"]) != expected:
            raise SystemExit(f"{label}: {result['docs']} docs, {result['quarantined']} quarantined, "
                             f"expected {expected}")
    for kind in ("header-line", "zero bomb", "CR/LF bomb"):
        rows = [(factor, r["seconds"]) for label, _, factor, r in results if label.startswith(kind)]
        if len(rows) > 1:
            (f0, t0), (f1, t1) = rows[0], rows[-1]
            print(f"{kind}: {f1 // f0}× the input → {t1 / t0:.1f}× the time")


if __name__ == "__main__":
    main()
