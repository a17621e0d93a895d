"""Dataflow readiness, checked offline: the job DataflowRunner would submit, and whether it scales.

``translate`` repeats what ``DataflowRunner.run_pipeline`` does to a pipeline before it
calls the Dataflow API (which needs the ``gcp`` extra and credentials): the same graph
visitors and overrides, the Docker environment with the artifacts staged from
``setup.py`` (an sdist of this project, built for real), the portable proto and Dataflow's
default pre-optimisation (combiner packing, stage sorting). No network, no cloud calls.

``inspect`` lists what matters for scale: every GroupByKey, global combine and side input,
and the size of the job graph; ``problems`` turns that into findings:

* a global combine (``CombineGlobally``) over anything but the per-source counts would
  funnel its input through one worker;
* a side input makes a whole PCollection available to every worker; only small ones
  (the counts) are allowed;
* Dataflow refuses job requests above 20 MB (apache/beam#14122; Dataflow "job graph too
  large"). Data inlined with ``beam.Create`` (e.g. one path per input file) counts.

GroupByKeys are listed with their labels for review; the ones in this project are keyed by
spill partition (``*/Gather runs``: only run file paths cross, the documents go through sorted
runs on disk, ``stages.spill``), shard index (``Tokenize/*/Group shards``), random keys
(``Reshuffle``), band or line hash (dedup stages), so no key collects a whole corpus.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2

from mixtures.config import PipelineConfig
from pipeline.options import make_options

DATAFLOW_REQUEST_LIMIT = 20 * 1024 * 1024
# Global combines whose input is one (key, 1) pair per document and whose output is a small
# dict; combiner lifting pre-aggregates them on every worker before the single-key shuffle.
# TokenizeToShards (stages/tokenize.py) sums (documents, tokens, empty) the same way, and lists
# one small description per token shard (not per document) before writing its manifest.
# The export lists one description per output shard.
SMALL_GLOBAL_COMBINES = (re.compile(r"(^|/)Count/Merge$"), re.compile(r"(^|/)Token totals$"),
                         re.compile(r"(^|/)Shard descriptions/Shard descriptions$"),
                         # connected components: one sum of changed edges per round (combiner-lifted)
                         re.compile(r"(^|/)Round \d+/Changes$"),
                         re.compile(r"(^|/)Blend shard descriptions/Blend shard descriptions$"))
SMALL_SIDE_INPUT_PRODUCERS = (re.compile(r"(^|/)Count/Merge(/|$)"), re.compile(r"(^|/)Token totals(/|$)"),
                              re.compile(r"(^|/)Round \d+/Changes(/|$)"),
                              # export: one record per source (its cached index folder), never data
                              re.compile(r"(^|/)Build blend index(/|$)"))

GBK_URN = common_urns.primitives.GROUP_BY_KEY.urn
PARDO_URN = common_urns.primitives.PAR_DO.urn


def dataflow_args(project: str, region: str, temp_location: str, *extra: str) -> list[str]:
    """The runner flags ``pasture run`` passes to Beam for a Dataflow job."""
    return ["--runner", "DataflowRunner", "--project", project, "--region", region,
            "--temp_location", temp_location, *extra]


def build_job(cfg: PipelineConfig, beam_args: list[str], names: list[str] | None = None) -> beam.Pipeline:
    """The pipeline ``pasture run`` would submit, built but not run."""
    from pipeline.runner import build_sources, spill_folder

    options = make_options(beam_args)
    spill_folder(cfg, options, 1, beam_args)
    p = beam.Pipeline(options=options)
    build_sources(p, cfg, names or [s.name for s in cfg.sources])
    return p


def translate(pipeline: beam.Pipeline, staging_dir: str | None = None) -> tuple[beam_runner_api_pb2.Pipeline,
                                                                                  list[str]]:
    """The portable proto DataflowRunner would submit, and the files it would stage.

    Mirrors ``DataflowRunner.run_pipeline`` (Beam 2.77) up to the API call. The staged
    files (the sdist among them) are left in ``staging_dir`` (default: a new temp folder).

    Returns:
        ``(proto, staged)``: the optimised pipeline proto and the staged artifact names
        (``workflow.tar.gz`` is the sdist built from ``setup.py``).
    """
    from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner
    from apache_beam.runners.pipeline_utils import group_by_key_input_visitor
    from apache_beam.runners.portability.fn_api_runner import translations
    from apache_beam.transforms import environments

    options: PipelineOptions = pipeline._options
    pipeline.visit(DataflowRunner.combinefn_visitor())
    pipeline.visit(DataflowRunner.side_input_visitor(deterministic_key_coders=True))
    pipeline.replace_all(DataflowRunner._PTRANSFORM_OVERRIDES)
    # Dataflow needs KV input types and deterministic key coders on every GroupByKey.
    pipeline.visit(group_by_key_input_visitor(True))
    staging_dir = staging_dir or tempfile.mkdtemp(prefix="pasture-staging-")
    artifacts = environments.python_sdk_dependencies(options, tmp_dir=staging_dir)
    environment = environments.DockerEnvironment.from_container_image(
        environments.DockerEnvironment.default_docker_image(), artifacts=artifacts,
        resource_hints=environments.resource_hints_from_options(options))
    proto = pipeline.to_runner_api(default_environment=environment)
    proto = translations.optimize_pipeline(proto, phases=[translations.pack_combiners, translations.sort_stages],
                                           known_runner_urns=frozenset(), partial=True)
    staged = []
    for artifact in artifacts:
        payload = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(artifact.role_payload)
        staged.append(payload.staged_name)
    return proto, staged


@dataclass
class JobGraph:
    """What ``inspect`` found in a job proto."""

    transforms: list[str] = field(default_factory=list)  # every unique name, sorted
    group_by_keys: list[str] = field(default_factory=list)
    global_combines: list[str] = field(default_factory=list)
    side_inputs: list[tuple[str, str]] = field(default_factory=list)  # (consumer, producer of the side input)
    proto_bytes: int = 0


def inspect(proto: beam_runner_api_pb2.Pipeline) -> JobGraph:
    """Names, GroupByKeys, global combines and side inputs of a pipeline proto."""
    transforms = proto.components.transforms
    producer = {}
    for t in transforms.values():
        if not t.subtransforms:
            for pcoll in t.outputs.values():
                producer[pcoll] = t.unique_name
    graph = JobGraph(transforms=sorted(t.unique_name for t in transforms.values()), proto_bytes=proto.ByteSize())
    for t in transforms.values():
        if t.spec.urn == GBK_URN:
            graph.group_by_keys.append(t.unique_name)
        # CombineGlobally expands to KeyWithVoid → CombinePerKey → UnKey (keyed by None).
        if any(transforms[s].unique_name.endswith("/KeyWithVoid") for s in t.subtransforms):
            graph.global_combines.append(t.unique_name)
        if t.spec.urn == PARDO_URN and not t.subtransforms:
            payload = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload)
            for local_name in payload.side_inputs:
                graph.side_inputs.append((t.unique_name, producer.get(t.inputs[local_name], "?")))
    # CombineGlobally's own InjectDefault reads the combine's single result as a side input.
    internal = [c + "/" for c in graph.global_combines]
    graph.side_inputs = [(consumer, source) for consumer, source in graph.side_inputs
                         if not any(consumer.startswith(c) and source.startswith(c) for c in internal)]
    graph.group_by_keys.sort()
    graph.global_combines.sort()
    graph.side_inputs.sort()
    return graph


def option_problems(options: PipelineOptions) -> list[str]:
    """Findings in the runner options (after Beam's validation defaults are applied)."""
    from apache_beam.options.pipeline_options import SetupOptions

    setup = options.view_as(SetupOptions)
    found = []
    if not setup.setup_file:
        found.append("no --setup_file: workers would not get the pasture packages")
    if setup.save_main_session:
        # Beam turns this on by default for cloudpickle on Dataflow; our code ships via setup.py.
        found.append("save_main_session is on (Beam's Dataflow default): pass --no_save_main_session")
    return found


def local_path_problems(beam_args: list[str], paths: dict[str, str]) -> list[str]:
    """With ``--runner DataflowRunner``, every path a verb reads or writes must be remote.

    A Dataflow worker cannot see the launcher's disk: a local run folder, model or output
    would fail on the workers after submission (or, worse, write to the worker's own disk).

    Args:
        beam_args: The verb's runner flags.
        paths: What each path is (``{"--run": "/data/run"}``), for the message.
    """
    if "DataflowRunner" not in " ".join(beam_args):
        return []
    return [f"{what} {path!r} is a local path; Dataflow workers cannot read or write it: give a gs:// path"
            for what, path in paths.items() if path and ("://" not in path or path.startswith("file://"))]


def require_remote_paths(verb: str, beam_args: list[str], paths: dict[str, str]) -> None:
    """Raises ``ConfigError`` (exit 2, one line) before anything is submitted; see ``local_path_problems``."""
    from mixtures.config import ConfigError

    found = local_path_problems(beam_args, paths)
    if found:
        raise ConfigError(f"{verb} on DataflowRunner: " + "; ".join(found))


def _allowed(name: str, patterns: tuple[re.Pattern[str], ...]) -> bool:
    return any(p.search(name) for p in patterns)


def problems(graph: JobGraph) -> list[str]:
    """Findings that would stop the job from scaling (or from being accepted)."""
    found = []
    for name in graph.global_combines:
        if not _allowed(name, SMALL_GLOBAL_COMBINES):
            found.append(f"{name}: CombineGlobally funnels its whole input through one key")
    for consumer, source in graph.side_inputs:
        if not _allowed(source, SMALL_SIDE_INPUT_PRODUCERS):
            found.append(f"{consumer}: side input from {source} is broadcast whole to every worker")
    if graph.proto_bytes > DATAFLOW_REQUEST_LIMIT:
        found.append(f"job graph is {graph.proto_bytes / 1e6:.1f} MB; Dataflow refuses requests above "
                     f"{DATAFLOW_REQUEST_LIMIT / 1e6:.0f} MB (inline data such as beam.Create of input paths)")
    return found


def shuffle_keys(graph: JobGraph) -> dict[str, str]:
    """Each GroupByKey with what it is keyed by, as far as its label tells."""
    kinds = (
        (r"/Gather (shard )?runs/", "partition: (partition, run path) records only, the data crosses on disk "
                                    "(stages.spill)"),
        (r"/Group shards(/|$)", "shard index (one group per output shard)"),
        (r"Reshuffle", "random key"),
        (r"/Count/Merge/", "counts key (combiner-lifted)"),
        (r"/Token totals/", "None key: one (documents, tokens, empty) sum (combiner-lifted)"),
        (r"/Shard descriptions/", "None key: one description per token shard"),
        (r"/Group slices/", "token shard: one (spill, offsets) record per spill and shard it feeds, never tokens"),
        (r"/Blend shard descriptions/", "None key: one description per export shard"),
        (r"(?i)band", "MinHash band key"),
        (r"(?i)line", "line hash"),
        (r"(?i)(span|c4_dedup|C4Dedup)", "sentence-span hash"),
        (r"(?i)(star|component|cluster)", "document id (connected components)"),
        (r"(?i)(exact|hash|digest)", "content hash"),
    )
    out = {}
    for name in graph.group_by_keys:
        out[name] = next((why for pattern, why in kinds if re.search(pattern, name)), "see the stage's docstring")
    return out
