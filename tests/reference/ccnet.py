"""cc_net 1.0.0 itself, imported from its PyPI sdist, as the reference our CCNet steps must equal.

The sdist is fetched once into ``~/.cache/pasture/reference`` (``PASTURE_REFERENCE_CACHE``
overrides it): first with ``pip download --no-deps`` (the ordinary client), and when pip
refuses (pip >= 26 rejects cc_net's metadata, which declares ``kenlm @ git+...``) from the
same PyPI file, checked against its published sha256. It is unpacked and put on
``sys.path``. Its ``kenlm`` and ``sentencepiece`` imports are satisfied by ours; the modules
it needs only to import (``psutil``, ``requests`` for ``jsonql``) are stubbed when absent.
Tests skip, with the reason, when the sdist cannot be had (no network, no cache).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
import tarfile
import types
import urllib.request
from pathlib import Path

import pytest

VERSION = "1.0.0"
SDIST = f"cc_net-{VERSION}.tar.gz"
SDIST_URL = ("https://files.pythonhosted.org/packages/bb/46/ca08b95f9164a01a01448cd41524c9b21c34b1b79b1cacb92ad7a14be608/"
             + SDIST)
SDIST_SHA256 = "60131c23498bfa1428b4c6d311cceb60e8f298d5d4d1900eca4f8402543d75f3"


def cache_dir() -> Path:
    return Path(os.environ.get("PASTURE_REFERENCE_CACHE", Path.home() / ".cache" / "pasture" / "reference"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download(target: Path) -> str | None:
    """Puts the sdist at ``target``; returns why not, or None."""
    target.parent.mkdir(parents=True, exist_ok=True)
    pip = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                          f"cc-net=={VERSION}", "-d", str(target.parent)], capture_output=True, text=True, timeout=300)
    if pip.returncode == 0 and target.is_file():
        return None
    try:
        with urllib.request.urlopen(SDIST_URL, timeout=60) as response:
            data = response.read()
    except OSError as exc:
        return f"pip download failed ({pip.stderr.strip().splitlines()[-1:]}) and so did {SDIST_URL}: {exc}"
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return None


def _stub_missing(*names: str) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)


def load_cc_net() -> types.ModuleType:
    """The ``cc_net`` package of the 1.0.0 sdist (skips the test when it cannot be had)."""
    root = cache_dir() / f"cc_net-{VERSION}"
    if not (root / "cc_net" / "dedup.py").is_file():
        sdist = cache_dir() / SDIST
        if not sdist.is_file() or _sha256(sdist) != SDIST_SHA256:
            why = _download(sdist)
            if why is not None:
                pytest.skip(f"cc_net {VERSION} sdist unavailable: {why}")
        if _sha256(sdist) != SDIST_SHA256:
            pytest.skip(f"{sdist}: sha256 differs from PyPI's {SDIST_SHA256}")
        with tarfile.open(sdist) as tar:
            tar.extractall(cache_dir(), filter="data")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    _stub_missing("psutil", "requests")
    import cc_net

    if not str(Path(cc_net.__file__)).startswith(str(root)):
        pytest.skip(f"another cc_net is importable ({cc_net.__file__}); the reference needs the {VERSION} sdist")
    return cc_net


@pytest.fixture(scope="session")
def cc_net() -> types.ModuleType:
    """cc_net 1.0.0 from its PyPI sdist (``import cc_net.dedup`` etc. work after this)."""
    return load_cc_net()
