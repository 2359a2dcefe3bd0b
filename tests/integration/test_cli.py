"""The command line as a user meets it: help, usage errors, bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agririsk.cli import main

COMMANDS = ["demo", "sample-region", "validate", "score", "train", "export", "monitor"]


@pytest.mark.parametrize("command", COMMANDS)
def test_cli__every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: agririsk" in capsys.readouterr().out


def test_cli__usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["score"])
    assert exc.value.code == 2


def test_cli__missing_region_is_one_paragraph_exit_1(tmp_path, capsys):
    rc = main(["score", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "nope.toml" in err and "Traceback" not in err


def test_cli__bad_date_is_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["score", "r.toml", "--out", "o", "--as-of", "yesterday"])
    assert exc.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_cli__console_script_runs():
    res = subprocess.run([sys.executable, "-m", "agririsk.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "score" in res.stdout
