"""A baseline from another distribution, registered through the `fmri_bench.baselines` entry point.

The toy package is installed the way pip would leave it: a module and a ``*.dist-info``
folder with ``METADATA`` and ``entry_points.txt`` in a directory on ``PYTHONPATH``, so the
real ``importlib.metadata`` discovery path is exercised. The CLI runs in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

TOY = '''
import numpy as np

from fmri_bench.baselines import ReconstructionBaseline


class GreyBaseline(ReconstructionBaseline):
    """Every reconstruction is a flat grey of the given level."""

    description = "toy: flat grey images"

    def __init__(self, level: float = 0.5) -> None:
        self.level = level

    def fit(self, X, images):
        self.size_ = images.shape[1]
        return self

    def predict(self, X):
        return np.full((len(X), self.size_, self.size_, 3), self.level, dtype=np.float32)
'''


def _install_toy(site: Path) -> None:
    (site / "toy_fmri_baseline").mkdir(parents=True)
    (site / "toy_fmri_baseline" / "__init__.py").write_text(TOY)
    info = site / "toy_fmri_baseline-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-fmri-baseline\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[fmri_bench.baselines]\ntoy-grey = toy_fmri_baseline:GreyBaseline\n")
    (info / "RECORD").write_text("")


def _cli(args: list[str], site: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    code = "import sys; from fmri_bench.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


def test_entry_point_baseline_runs_through_the_cli(tiny_home: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_toy(site)

    listed = _cli(["list", "baselines"], site)
    assert listed.returncode == 0, listed.stderr
    line = next(row for row in listed.stdout.splitlines() if row.startswith("toy-grey"))
    assert "toy: flat grey images" in line

    out = tmp_path / "out"
    run = _cli(["run-baseline", "toy-grey", "--data-home", str(tiny_home), "--out", str(out), "--no-score",
                "--json", "--param", "level=0.25", "--device", "cpu"], site)  # fmt: skip
    assert run.returncode == 0, run.stderr
    obj = json.loads(run.stdout.strip().splitlines()[-1])
    assert obj["baseline"] == "toy-grey" and obj["subject"] == "sub-01"
    images = np.load(out / "sub-01.npy")
    expected_shape = np.load(tiny_home / "synthetic" / "v1" / "images_test.npy", mmap_mode="r").shape
    assert images.shape == expected_shape and np.all(images == 64)  # 0.25 * 255 rounded
    side = json.loads((out / "sub-01.json").read_text())
    assert side["origin"] == "entry point toy_fmri_baseline:GreyBaseline" and side["parameters"] == {"level": 0.25}
