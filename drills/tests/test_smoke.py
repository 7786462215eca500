"""The drills' harness end to end at a small scale, so that `make drills` cannot rot unnoticed: a private
stack, a 300-recipient campaign with workers killed under it, the table and results.json."""

import json
import subprocess
import sys

import pytest

from drills.stack import ROOT, free_base_port, missing_tools

missing = missing_tools()


@pytest.mark.skipif(bool(missing), reason=f"the drills need {'; '.join(missing)}")
def test_worker_kill_drill_passes_at_small_scale(tmp_path):
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "drills", "kills", "--scale", "0.015", "--base-port", str(free_base_port()),
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    [drill] = json.loads(out.read_text())["drills"]
    assert (drill["expected"], drill["sent"], drill["duplicates"], drill["lost"]) == (300, 300, 0, 0)
    assert drill["figures"]["kills"] >= 1
    assert "Reliability drills" in run.stdout
