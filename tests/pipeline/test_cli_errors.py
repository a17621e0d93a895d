"""Every user error is one line on stderr naming the thing and the fix, exit 2; a bug is one line too
(exit 1), and ``-v`` shows the traceback."""

from __future__ import annotations

import pytest

from pipeline.cli import main

MODEL_STUB = "does-not-matter.model"


def _one_line_error(capsys, argv: list[str], *needles: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(err) == 1 and err[0].startswith("pasture") and " error: " in err[0], err
    for needle in needles:
        assert needle in err[0], err[0]
    return err[0]


def test_bad_yaml_names_the_file_and_line(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text("sources:\n  - name: cc\n     kind: cc\n")
    _one_line_error(capsys, ["run", "--config", str(bad)], f"{bad}:3:", "not valid YAML")


def test_missing_config_file(tmp_path, capsys):
    _one_line_error(capsys, ["run", "--config", str(tmp_path / "nope.yaml")], "nope.yaml", "not found")


def test_output_that_cannot_be_a_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    _one_line_error(capsys, ["rebuild", "github", "--input", "samples/github", "--output", str(blocker / "out")],
                    str(blocker))


def test_unknown_runner(tmp_path, capsys):
    _one_line_error(capsys, ["rebuild", "github", "--input", "samples/github", "--output", str(tmp_path),
                             "--runner", "DataflowRuner"], "DataflowRuner", "did you mean DataflowRunner")


def test_misspelled_beam_flag_fails_instead_of_being_ignored(tmp_path, capsys):
    _one_line_error(capsys, ["rebuild", "github", "--input", "samples/github", "--output", str(tmp_path),
                             "--direct_num_worker", "2"], "--direct_num_worker", "did you mean --direct_num_workers")
    assert not (tmp_path / "github").exists()  # refused before any work


@pytest.mark.parametrize("argv", [
    ["mixture", "plan", "--run", "{missing}"],
    ["export", "--run", "{missing}", "--tokens", "1000", "--output", "{out}"],
    ["tokenizer", "encode", "--run", "{missing}", "--model", MODEL_STUB],
], ids=["mixture-plan", "export", "tokenizer-encode"])
def test_missing_run_folder(tmp_path, capsys, argv):
    missing = str(tmp_path / "no-such-run")
    argv = [a.format(missing=missing, out=tmp_path / "out") for a in argv]
    _one_line_error(capsys, argv, "no-such-run")


def test_missing_input(tmp_path, capsys):
    _one_line_error(capsys, ["rebuild", "github", "--input", str(tmp_path / "nothing-here"), "--output",
                             str(tmp_path / "out")], "nothing-here")


def test_a_bug_is_one_line_and_verbose_shows_the_traceback(tmp_path, capsys, monkeypatch):
    from pipeline import cli

    def broken(*_args, **_kwargs):
        raise KeyError("internal")

    original = cli.build_parser

    def with_broken_plan():
        # `mixture plan` stands for any verb: its handler is replaced by one that has a bug.
        parser = original()
        mixture = parser._subparsers._group_actions[0].choices["mixture"]  # noqa: SLF001
        mixture._subparsers._group_actions[0].choices["plan"].set_defaults(func=broken)  # noqa: SLF001
        return parser

    monkeypatch.setattr(cli, "build_parser", with_broken_plan)
    assert main(["mixture", "plan", "--run", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error: KeyError" in err[0] and "-v" in err[0]
    with pytest.raises(KeyError):
        main(["-v", "mixture", "plan", "--run", str(tmp_path)])
