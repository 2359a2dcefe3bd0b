"""The ``sample-region`` command's parser (wired into agririsk.cli by the lead)."""

from __future__ import annotations

import argparse

import pytest

from agririsk.sample import cli


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agririsk")
    cli.add_parser(p.add_subparsers(dest="command"))
    return p


def test_add_parser__defaults():
    args = _parser().parse_args(["sample-region", "--out", "x"])
    assert (args.seed, args.parcels, args.size) == (0, 250, 512)
    assert args.func is cli.run


@pytest.mark.parametrize("argv", [["--size", "63"], ["--size", "65"], ["--parcels", "0"], []])
def test_add_parser__usage_errors_exit_2(argv):
    base = ["sample-region"] + ([] if argv == [] else ["--out", "x"])
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(base + argv)
    assert exc.value.code == 2


def test_run__writes_region(tmp_path):
    args = _parser().parse_args(
        ["sample-region", "--out", str(tmp_path / "r"), "--size", "64", "--parcels", "8"]
    )
    assert cli.run(args) == 0
    assert (tmp_path / "r" / "region.toml").is_file()
