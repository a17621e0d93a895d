"""Runner flags: everything we do not parse ourselves passes straight to Beam.

The local default is ``FnApiRunner`` in-process: Beam 2.77's DirectRunner first tries to
download the Prism binary, which we never want on an offline machine.
``--direct_num_workers N`` (N > 1) switches to multi-processing.
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
)

LOCAL_RUNNER = "FnApiRunner"


def _flag_value(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def make_options(beam_args: list[str] | None = None) -> PipelineOptions:
    args = list(beam_args or [])
    runner = _flag_value(args, "--runner")
    if runner is None or runner in ("DirectRunner", "direct"):
        args = [a for a in args if not a.startswith("--runner")] if runner else args
        if runner is not None:
            args = _drop_flag(beam_args or [], "--runner")
        args.append(f"--runner={LOCAL_RUNNER}")
    workers = _flag_value(args, "--direct_num_workers")
    if workers and int(workers) > 1 and _flag_value(args, "--direct_running_mode") is None:
        args.append("--direct_running_mode=multi_processing")
    options = PipelineOptions(args)
    std = options.view_as(StandardOptions)
    if std.runner == "DataflowRunner":
        setup = options.view_as(SetupOptions)
        if not setup.setup_file:
            import os

            setup.setup_file = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.py")
        # Workers install the package from setup.py; pickling the main session is never needed
        # (and Beam turns it on by default for Dataflow).
        if "--save_main_session" not in args:
            setup.save_main_session = False
    options.view_as(DirectOptions)
    return options


def _drop_flag(args: list[str], flag: str) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == flag:
            skip = True
            continue
        if arg.startswith(flag + "="):
            continue
        out.append(arg)
    return out


def runner_name(options: PipelineOptions) -> str:
    return str(options.view_as(StandardOptions).runner)
