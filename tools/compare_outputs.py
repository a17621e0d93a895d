"""Compare two output trees of `pasture demo` (or of a run) for a refactor that must not change outputs.

    .venv/bin/python tools/compare_outputs.py BEFORE_DIR AFTER_DIR

Prints the files whose bytes are equal and those that differ, then compares what matters:
the sha256 of every document shard recorded in each ``run/<source>/stats.json`` and every
token and export manifest. Exit status 1 when a recorded shard checksum or a manifest
differs. Files expected to differ after a code change (stats.json itself, timing files,
_counts.json, the report, the trainer's checkpoint and timing metrics) are listed, not
judged: they carry the git revision, the resolved config and wall times.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def file_sums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def recorded(root: Path) -> dict[str, object]:
    """Shard checksums from every stats.json, and the text of every token/export manifest."""
    found: dict[str, object] = {}
    for stats in sorted(root.glob("run/*/stats.json")):
        found[str(stats.relative_to(root))] = json.loads(stats.read_text(encoding="utf-8"))["outputs"]
    for manifest in sorted(root.rglob("manifest.json")):
        if "models" not in manifest.relative_to(root).parts:  # model manifests carry the git revision
            found[str(manifest.relative_to(root))] = manifest.read_text(encoding="utf-8")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    before, after = Path(argv[0]), Path(argv[1])
    a, b = file_sums(before), file_sums(after)
    print(f"byte-identical files: {sum(1 for k in a if b.get(k) == a[k])} of {len(a)}")
    for label, names in (("differ", sorted(k for k in a if k in b and a[k] != b[k])),
                         ("only in before", sorted(set(a) - set(b))), ("only in after", sorted(set(b) - set(a)))):
        for name in names:
            print(f"  {label}: {name}")
    ra, rb = recorded(before), recorded(after)
    failures = 0
    for key in sorted(set(ra) | set(rb)):
        same = ra.get(key) == rb.get(key)
        failures += not same
        what = f"{len(ra.get(key) or {})} shard checksums" if key.endswith("stats.json") else "manifest"
        print(f"{'same' if same else 'DIFFERENT'}: {key} ({what})")
    print("recorded outputs identical" if not failures else f"{failures} recorded output(s) differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
