"""Peak memory of ``pasture models lm`` as its input grows (1×, 4×, 16×), against the single-process path.

Input: the real ltgwiki dump of the corpus (Latgalian, every page) repeated k times, each copy's
page ids and titles shifted so that every page is a distinct page with the same text; written
as a plain ``.xml`` dump.

Peers, each in its own fresh Python process (peak RSS of that process, ``getrusage``; lmplz and
build_binary are separate tools whose memory ``-S`` bounds, the same for both):

  single  ``train_language(iter_articles(dump))``: the former ``models lm``, one process, every
          page's text goes to SentencePiece
  beam    ``pasture models lm`` as it is now: Beam (FnApiRunner, 1 worker) prepares the text and
          samples it to ``--max-training-bytes``; the fit runs on the bounded sample

Usage::

    .venv/bin/python bench/model_inputs_memory.py [--scales 1 4 16] [--max-training-bytes 1000000]
"""

from __future__ import annotations

import argparse
import bz2
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LTG = "ltgwiki-latest-pages-articles.xml.bz2"
_PAGE = re.compile(rb"  <page>.*?</page>\n", re.S)
_ID = re.compile(rb"<id>(\d+)</id>")
_TITLE = re.compile(rb"<title>(.*?)</title>")
COMMON = ["--vocab-size", "2000", "--order", "3", "--memory", "200M"]


def build_dump(corpus: Path, scale: int, out: Path) -> int:
    """``scale`` copies of every ltgwiki page (ids and titles made distinct per copy); returns XML bytes."""
    raw = bz2.decompress((corpus / "wikipedia" / LTG).read_bytes())
    first = raw.index(b"  <page>")
    pages = _PAGE.findall(raw)
    with out.open("wb") as fh:
        fh.write(raw[:first])
        for copy in range(scale):
            for page in pages:
                if copy:
                    page_id = int(_ID.search(page).group(1)) + copy * 10_000_000
                    title = _TITLE.search(page).group(1)
                    page = _ID.sub(b"<id>%d</id>" % page_id, page, count=1)
                    page = _TITLE.sub(b"<title>%s %d</title>" % (title.replace(b"\\", b"\\\\"), copy), page, count=1)
                fh.write(page)
        fh.write(b"</mediawiki>\n")
    return out.stat().st_size


def child(mode: str, dump: str, out: str, max_bytes: int) -> None:
    """Runs one peer in this process and prints its peak RSS and wall time as JSON."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    if mode == "single":
        from mixtures.config import LMTrainingConfig, PerplexityConfig
        from pipeline.training.lm import LMTrainingSettings, find_kenlm_binary, train_language
        from pipeline.training.wikipedia_text import iter_articles

        training = LMTrainingConfig(vocab_size=2000, order=3, memory="200M")
        settings = LMTrainingSettings.from_config("ltg", training, PerplexityConfig())
        result = train_language(iter_articles([dump], ["ltg"]), [dump], out, settings,
                                find_kenlm_binary("lmplz", venv=sys.prefix),
                                find_kenlm_binary("build_binary", venv=sys.prefix))
        text = result.counts["chars"]
    else:
        from pipeline.cli import main

        code = main(["models", "lm", "--wikipedia", dump, "--lang", "ltg", "--output", out,
                     "--max-training-bytes", str(max_bytes), *COMMON])
        assert code == 0
        text = json.loads((Path(out) / "manifest.json").read_text())["languages"]["ltg"]["counts"]["chars"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rss_mb": rss, "seconds": time.perf_counter() - started, "fit_chars": text}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-training-bytes", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "DUMP", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.max_training_bytes)
        return
    print(f"{'scale':>5} {'XML MB':>7} | {'peer':<6} {'peak RSS MB':>11} {'wall s':>7} {'chars fit on':>13}")
    with tempfile.TemporaryDirectory(prefix="bench-model-inputs-") as tmp:
        for scale in args.scales:
            dump = Path(tmp) / f"ltgwiki-20240101-pages-articles-x{scale}.xml"
            size = build_dump(Path(args.corpus), scale, dump)
            for mode in ("single", "beam"):
                out = Path(tmp) / f"{mode}-{scale}"
                proc = subprocess.run([sys.executable, __file__, "--child", mode, str(dump), str(out),
                                       "--max-training-bytes", str(args.max_training_bytes)],
                                      capture_output=True, text=True, check=True)
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"{scale:>5} {size / 1e6:>7.1f} | {mode:<6} {r['rss_mb']:>11.0f} {r['seconds']:>7.1f} "
                      f"{r['fit_chars']:>13,}", flush=True)
            dump.unlink()


if __name__ == "__main__":
    main()
