"""Checks the Beam runner flags a verb passes through, before any pipeline is built.

Beam itself only logs "Discarding unparseable args" and goes on, so a misspelled flag
(``--direct_num_worker 2``) silently ran with one worker. Here every flag is parsed
against every ``PipelineOptions`` class Beam knows (the same parser Beam builds), and the
unknown ones are reported with the closest known spelling.
"""

from __future__ import annotations

import difflib
import logging

# Runners a user may name; FnApiRunner is the in-process runner pasture uses locally.
KNOWN_RUNNERS = (
    "DirectRunner", "FnApiRunner", "DataflowRunner", "PrismRunner", "PortableRunner",
    "FlinkRunner", "SparkRunner", "InteractiveRunner", "direct",
)


class BeamFlagError(ValueError):
    """A runner flag Beam does not know, or a runner name it cannot build."""


def _beam_parser():  # -> argparse.ArgumentParser
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    import stages.spill  # noqa: F401  (our own option class: --spill_dir, --spill_buffer_mb)

    parser = _BeamArgumentParser(allow_abbrev=False)
    classes: dict[str, type] = {}
    pending = list(PipelineOptions.__subclasses__())
    while pending:
        cls = pending.pop()
        classes.setdefault(f"{cls.__module__}.{cls.__qualname__}", cls)
        pending.extend(cls.__subclasses__())
    # Beam logs (and tolerates) the same flag declared by two option classes; we only need
    # the union of names, so that noise is muted while the parser is built.
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        for cls in classes.values():
            try:
                cls._add_argparse_args(parser)  # noqa: SLF001  (Beam's own hook, as Beam calls it)
            except Exception:  # an option class of an optional extra that cannot register: skip it
                continue
    finally:
        logging.getLogger().setLevel(previous)
    return parser


def check_beam_flags(args: list[str]) -> None:
    """Raises :class:`BeamFlagError` naming every unknown flag and an unknown ``--runner``.

    Args:
        args: The flags a verb did not parse itself, exactly as given.
    """
    parser = _beam_parser()
    known, unknown = parser.parse_known_args(args)
    flags, stray = [], []
    for i, arg in enumerate(unknown):
        if arg.startswith("-"):
            flags.append(arg.split("=", 1)[0])
        elif not (i and unknown[i - 1].startswith("-") and "=" not in unknown[i - 1]):
            stray.append(arg)  # a value that follows an unknown flag is that flag's, not stray
    if flags or stray:
        names = sorted({option for action in parser._actions for option in action.option_strings})  # noqa: SLF001
        parts = []
        for flag in flags:
            close = difflib.get_close_matches(flag, names, n=1, cutoff=0.75)
            parts.append(f"{flag} (did you mean {close[0]}?)" if close else flag)
        parts += [f"unexpected value {value!r}" for value in stray]
        raise BeamFlagError(f"unknown Beam runner flag(s): {', '.join(parts)}; fix the spelling or drop them "
                            "(pasture passes unknown flags to Beam, which would ignore these)")
    runner = getattr(known, "runner", None)
    if runner and runner not in KNOWN_RUNNERS and "." not in runner:
        close = difflib.get_close_matches(runner, KNOWN_RUNNERS, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise BeamFlagError(f"unknown runner {runner!r}{hint}; known: {', '.join(KNOWN_RUNNERS[:-1])}")
