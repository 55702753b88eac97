"""The ``python -m ml_core.<tool>`` entry points: started as programs, they dispatch and exit with
the subcommand's status; imported, they only offer ``main``."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("tool, listed", [("train", "{clip,dalle}"), ("eval", "{clip,dalle,tagging}")])
def test_a_started_tool_lists_its_subcommands_and_fails_on_an_unknown_one(tool, listed):
    done = subprocess.run([sys.executable, "-m", f"ml_core.{tool}", "bogus"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and f"usage: python -m ml_core.{tool} {listed}" in done.stderr


def test_an_imported_tool_runs_nothing(capsys):
    from ml_core.eval.__main__ import main

    assert capsys.readouterr() == ("", "")            # importing it dispatched nothing
    assert main(["bogus"]) == 2 and "usage: python -m ml_core.eval" in capsys.readouterr().err
