"""Drive cc_net's own dedup code the way its ``mine`` does, on texts of one dedup group."""

from __future__ import annotations

import copy
from pathlib import Path


def cc_net_mine_dedup(texts: list[str], tmp: Path, min_len: int = 0) -> list[dict | None]:
    """cc_net ``hashes`` + ``mine``'s dedup step over ``texts`` (one hash group).

    ``min_len`` is applied first, on the raw page, with cc_net's ``RemoveSmall`` (what its WET
    parser does with ``min_len``). Returns, per input text, the deduped document dict (with
    ``raw_content``, ``line_ids``, ``original_nlines``...) or None when cc_net drops it.
    """
    from cc_net import dedup, perplexity

    docs = [{"id": i, "raw_content": text} for i, text in enumerate(texts)]
    small = perplexity.RemoveSmall("raw_content", min_len)
    long_enough = [d for d in docs if small.do(copy.deepcopy(d)) is not None]
    hashes = tmp / "hashes.bin"
    collector = dedup.HashesCollector(field="raw_content", output=hashes)
    list(collector.map(copy.deepcopy(long_enough)))
    remover = dedup.DuplicatesRemover("raw_content", [hashes] if hashes.exists() else [])
    remover._prepare()
    out: list[dict | None] = [None] * len(texts)
    for doc in long_enough:
        result = remover.do(copy.deepcopy(doc))
        if result is not None:
            out[doc["id"]] = result
    return out
