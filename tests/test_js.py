"""The pure parts of the pages' scripts (the outbox's rules, labels and times), tested by node's own test runner."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_scripts_unit_tests_pass_under_node() -> None:
    node = shutil.which("node")
    assert node, "node is missing: `make install` needs it for the pages' libraries too"
    run = subprocess.run(
        [node, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout  # some ran, none failed
