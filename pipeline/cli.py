"""``pasture``: the command line. Each verb lives in ``pipeline/commands/<verb>.py``.

A command module exposes ``register(subparsers)``, which adds its parser and sets
``func(args, beam_args) -> int``. Unknown flags of ``run``/``rebuild``/``demo``/``export``/``tokenizer``/``models``
are Beam runner flags and pass straight through to Beam.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import importlib
import logging
import sys
from typing import Any

COMMANDS = [
    "pipeline.commands.demo",
    "pipeline.commands.run",
    "pipeline.commands.rebuild",
    "pipeline.commands.models",
    "pipeline.commands.tokenizer",
    "pipeline.commands.mixture",
    "pipeline.commands.export",
    "pipeline.commands.train",
    "pipeline.commands.report",
    "pipeline.commands.plan_cost",
    "pipeline.commands.extract",
    "pipeline.commands.references",
]

# Verbs whose unknown flags are Beam runner flags.
BEAM_VERBS = {"run", "rebuild", "demo", "export", "tokenizer", "models"}


def add_config_option(parser: argparse.ArgumentParser, reads: str) -> None:
    """Adds ``--config FILE``: the pipeline config whose ``reads`` give the verb's settings."""
    parser.add_argument("--config", metavar="FILE", default=None,
                        help=f"pipeline config YAML (as for `pasture run`): {reads} come from it; flags override")


class VerbSettings:
    """A verb's settings: the flag when given, else ``--config FILE``'s value, else the tree's default.

    Flags that the config tree can supply default to ``None`` in argparse, so "not given" is
    told apart from any value; the defaults themselves live in ``mixtures.config`` only.
    """

    def __init__(self, args: argparse.Namespace, verb: str) -> None:
        from mixtures.config import PipelineConfig, load_config

        self.args = args
        self.verb = verb
        self.file = getattr(args, "config", None)
        self.cfg = load_config(self.file) if self.file else PipelineConfig()

    def get(self, dest: str, key: str) -> Any:
        """``args.<dest>`` if given, else config value ``key`` (dotted: ``tokenizer.vocab_size``)."""
        value = getattr(self.args, dest)
        return value if value is not None else self.lookup(key)

    def path(self, dest: str, key: str, flag: str) -> Any:
        """Like :meth:`get` for a path, which has no built-in default: the flag or ``--config`` must say."""
        from mixtures.config import ConfigError

        value = getattr(self.args, dest)
        if value is not None:
            return value
        if self.file is None:
            raise ConfigError(f"{self.verb}: give {flag} or --config FILE (its {key})")
        return self.lookup(key)

    def section(self, key: str, dests: dict[str, str]) -> Any:
        """Config section ``key`` with the given flags (``{dest: field}``) replacing its fields, validated again."""
        section = self.lookup(key)
        overrides = {field: getattr(self.args, dest) for dest, field in dests.items()
                     if getattr(self.args, dest) is not None}
        return dataclasses.replace(section, **overrides)

    def lookup(self, key: str) -> Any:
        value: Any = self.cfg
        for part in key.split("."):
            value = getattr(value, part)
        return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pasture",
        description="Rebuild the LLaMA-1 pretraining mixture from raw public sources on Apache Beam.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # verb not built yet
            raise
        module.register(subparsers)
    return parser


def _quiet_noisy_loggers() -> None:
    # Beam logs harmless warnings on every import and worker start (apitools, unparseable args).
    for name in ("apache_beam", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    _quiet_noisy_loggers()
    logging.getLogger("pasture").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if extra and args.command not in BEAM_VERBS:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if extra:
            from pipeline.beam_flags import check_beam_flags

            check_beam_flags(extra)
        return int(args.func(args, extra) or 0)
    except Exception as exc:
        message = user_error_message(exc)
        if args.verbose:
            raise
        from pipeline.runner import QuarantineLimitError  # only on this path: it imports Beam

        if isinstance(exc, QuarantineLimitError):
            # The run stopped on purpose: too many records of one step set aside. Its message
            # lists sample errors (file and record each), so it is shown whole.
            print(f"pasture: error: {exc}", file=sys.stderr)
            return 1
        if message is None:
            # A bug in pasture (or a dependency), not a user error: one line, the traceback on -v.
            print(f"pasture: internal error: {type(exc).__name__}: {exc} (rerun with -v for the traceback)",
                  file=sys.stderr)
            return 1
        print(f"pasture: error: {message}", file=sys.stderr)
        return 2


def user_error_message(exc: BaseException) -> str | None:
    """One line for an error the user can fix (config, flags, paths), else None.

    Config and flag errors already name the field and the fix. File-system errors name the
    path and what to do about it.
    """
    from mixtures.config import ConfigError
    from pipeline.beam_flags import BeamFlagError
    from tokenizer.manifest import ManifestError

    if isinstance(exc, (ConfigError, BeamFlagError, ManifestError)):
        return str(exc)
    where = getattr(exc, "filename", None)
    if isinstance(exc, PermissionError):
        return f"{where}: permission denied; choose a path you can read and write (e.g. another --output)"
    if isinstance(exc, FileNotFoundError):
        return f"{where or exc}: no such file or folder; check the path"
    if isinstance(exc, (NotADirectoryError, IsADirectoryError, FileExistsError)):
        return f"{where}: {exc.strerror}; give a folder where a folder is expected and a file where a file is"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"{where or 'output'}: no space left on the device; free space or choose another --output"
    return None


if __name__ == "__main__":
    sys.exit(main())
