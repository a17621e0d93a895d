"""The one document model that flows through every stage.

A document is ``{"id", "text", "source", "meta", "annotations"}``: the dolma/RedPajama
shape. ``meta`` holds facts about where the document came from (URL, date, digest, file);
``annotations`` holds what our filters measured (language, perplexity, scores, drop reason).
Ids are stable: derived from the source and the record's location, never from run order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Document:
    id: str
    text: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)

    def with_text(self, text: str) -> Document:
        """A copy with new text; filters never mutate the document they are given."""
        return Document(self.id, text, self.source, dict(self.meta), dict(self.annotations))

    def annotated(self, **values: Any) -> Document:
        """A copy with ``values`` merged into ``annotations``."""
        annotations = dict(self.annotations)
        annotations.update(values)
        return Document(self.id, self.text, self.source, dict(self.meta), annotations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "meta": self.meta,
            "annotations": self.annotations,
        }

    def to_json(self) -> str:
        # sort_keys keeps output byte-identical whatever order stages added keys in.
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        return cls(
            id=str(data["id"]),
            text=data["text"],
            source=data.get("source", ""),
            meta=dict(data.get("meta") or {}),
            annotations=dict(data.get("annotations") or {}),
        )

    @classmethod
    def from_json(cls, line: str) -> Document:
        return cls.from_dict(json.loads(line))


def stable_id(source: str, *location: object) -> str:
    """A document id derived from where the record lives, e.g. (file name, byte offset).

    The readable prefix helps a person find the record; the hash keeps ids short and unique.
    """
    key = "\x1f".join(str(part) for part in (source, *location))
    return f"{source}/{hashlib.sha1(key.encode('utf-8')).hexdigest()[:20]}"


def shard_of(key: str, num_shards: int) -> int:
    """The output shard of a key (a document id): first 8 bytes of ``sha1(key)``, little-endian,
    mod ``num_shards``. Depends on the key alone, so document and token shards are the same
    whatever the input order or worker count (``stages.sinks``, ``tokenizer.shards``)."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "little") % num_shards


def shard_name(index: int, num_shards: int, suffix: str = "") -> str:
    """``part-00003-of-00010`` plus ``suffix`` (``.jsonl.gz``; none for a Megatron prefix)."""
    return f"part-{index:05d}-of-{num_shards:05d}{suffix}"


def unpaired_surrogate(record: dict[str, Any]) -> str | None:
    """The first string field holding an unpaired UTF-16 surrogate (``"\\ud800"`` in JSON).

    Python's JSON parser accepts such escapes, but the text cannot be written as UTF-8: the
    run's output sink would fail on it.
    """
    for key, value in record.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return key
    return None
