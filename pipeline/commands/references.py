"""``pasture references``: the pages Wikipedia cites, from Common Crawl (classifier positives).

::

    pasture references urls --wikipedia enwiki-*.xml.bz2 --output refs/urls.txt.gz [--sample 300000]
    pasture references fetch --urls refs/urls.txt.gz --cdx https://index.commoncrawl.org/CC-MAIN-2023-06-index \\
        --output refs/references.warc.gz
    pasture references fetch --urls refs/urls.txt.gz --columnar cc-index/table/.../*.parquet --output ...
    pasture models quality --positives refs/references.warc.gz enwiki-*.xml.bz2 \\
        --wikipedia enwiki-*.xml.bz2 --negatives cc/*.warc.gz --output models/quality/quality.bin

``fetch`` writes the WARC file and ``OUTPUT.manifest.json`` (counts, every failure with its
reason, the resolved settings and the file's sha256). The steps are in
:mod:`pipeline.training.references`.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os

from pipeline.cli import VerbSettings, add_config_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "references", help="export the URLs Wikipedia cites and fetch their Common Crawl captures",
        description="Build the positives of LLaMA's Wikipedia-reference classifier: the URLs cited by "
        "Wikipedia articles, looked up in a Common Crawl index and fetched by byte range as a WARC file.")
    verbs = parser.add_subparsers(dest="references_command", metavar="STEP", required=True)

    urls = verbs.add_parser("urls", help="list the external URLs cited by Wikipedia dumps")
    urls.add_argument("--wikipedia", nargs="+", required=True, metavar="DUMP", help="pages-articles dumps")
    urls.add_argument("--output", required=True, help="URL list to write (.txt or .txt.gz)")
    urls.add_argument("--sample", type=int, default=None,
                      help="keep at most N URLs, chosen by a seeded hash (RedPajama crawled 300K of 38M)")
    urls.add_argument("--seed", type=int, default=1, help="seed of the sample (default 1)")
    urls.set_defaults(func=urls_main)

    fetch = verbs.add_parser("fetch", help="look URLs up in a Common Crawl index and fetch their records")
    fetch.add_argument("--urls", required=True, help="URL list from `pasture references urls`")
    where = fetch.add_mutually_exclusive_group(required=True)
    where.add_argument("--cdx", metavar="INDEX_URL",
                       help="CDX server index of one crawl, e.g. https://index.commoncrawl.org/CC-MAIN-2023-06-index")
    where.add_argument("--columnar", nargs="+", metavar="PARQUET",
                       help="files of the columnar index (cc-index/table/cc-main/warc/crawl=.../*.parquet)")
    fetch.add_argument("--base-url", default=None,
                       help="prefix of the WARC file names (default https://data.commoncrawl.org/)")
    fetch.add_argument("--output", required=True, help="WARC file to write (.warc.gz)")
    fetch.add_argument("--workers", type=int, default=4, help="lookups and ranges in flight (default 4)")
    add_config_option(fetch, "the HTTP retry settings (http)")
    fetch.set_defaults(func=fetch_main)


def urls_main(args: argparse.Namespace, _beam_args: list[str]) -> int:
    from mixtures.config import ConfigError
    from pipeline.training.references import cited_urls, sample_urls, write_url_list

    dumps = [p for spec in args.wikipedia for p in (sorted(glob.glob(spec)) or [spec])]
    missing = [p for p in dumps if not os.path.isfile(p)]
    if missing:
        raise ConfigError(f"references urls: Wikipedia dump not found: {missing[0]}")
    found = list(cited_urls(dumps))
    chosen = sample_urls(found, args.sample, args.seed)
    written = write_url_list(args.output, chosen)
    print(f"{len(found)} distinct cited URLs in {len(dumps)} dump(s); wrote {written} to {args.output}")
    return 0


def fetch_main(args: argparse.Namespace, _beam_args: list[str]) -> int:
    from mixtures.config import ConfigError
    from mixtures.provenance import package_versions, sha256_file, write_json_atomically
    from pipeline.training.references import (
        DEFAULT_DATA_HOST,
        cdx_lookup,
        columnar_lookup,
        fetch_captures,
        urls_in,
    )

    if not os.path.isfile(args.urls):
        raise ConfigError(f"references fetch: URL list not found: {args.urls}")
    settings = VerbSettings(args, "references fetch").lookup("http")
    urls = list(urls_in(args.urls))
    if args.cdx:
        captures = cdx_lookup(urls, args.cdx, settings, workers=args.workers)
    else:
        files = [p for spec in args.columnar for p in (sorted(glob.glob(spec)) or [spec])]
        captures = columnar_lookup(files, urls)
    base_url = args.base_url or DEFAULT_DATA_HOST
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    tmp = f"{args.output}.tmp-{os.getpid()}"
    with open(tmp, "wb") as out:
        report = fetch_captures(captures.values(), out, base_url, settings, workers=args.workers)
    os.replace(tmp, args.output)
    manifest = {
        "format": "pasture-references-v1",
        "urls": len(urls), "captures_found": len(captures), "records_written": report.written,
        "bytes_written": report.bytes_written,
        "failed": [{"url": url, "reason": reason} for url, reason in report.failed],
        "config": {"urls": args.urls, "index": args.cdx or args.columnar, "base_url": base_url,
                   "http": dataclasses.asdict(settings)},
        "sha256": sha256_file(args.output),
        "versions": package_versions(),
    }
    write_json_atomically(f"{args.output}.manifest.json", manifest)
    print(f"{len(urls)} URLs: {len(captures)} found in the index, {report.written} records written to "
          f"{args.output}, {len(report.failed)} failed (listed in {args.output}.manifest.json)")
    return 0
