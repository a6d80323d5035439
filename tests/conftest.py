"""Shared fixtures: an isolated environment, no network, and the tiny synthetic dataset."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights"
# The real OpenNeuro metadata of both releases (CC0): events, sidecars, image shapes, short
# runs, annexed-file and fMRIPrep-derivative listings; 0.45 MB, 11 MB unpacked.
REFERENCE_ARCHIVE = Path(__file__).resolve().parent / "fixtures" / "reference.tar.xz"

_LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read the user's data home or torch cache, and never show progress bars."""
    root = tmp_path_factory.mktemp("env")
    os.environ["FMRI_BENCH_HOME"] = str(root / "home")
    os.environ["TORCH_HOME"] = str(root / "torch")
    os.environ["FMRI_BENCH_NO_PROGRESS"] = "1"
    os.environ.setdefault("GIT_AUTHOR_NAME", "fmri-bench tests")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens a connection off this machine."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in _LOCAL_HOSTS
            and not host.startswith("127.")
            and not host.startswith("/")
        ):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(scope="session")
def reference_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real OpenNeuro metadata (``openneuro/ds00*``, ``openneuro/short_runs.tsv``), unpacked once."""
    import tarfile

    root = tmp_path_factory.mktemp("reference")
    with tarfile.open(REFERENCE_ARCHIVE) as archive:
        archive.extractall(root, filter="data")
    return root


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """Real ImageNet weights in torchvision layout in ../shared/weights (skips when absent)."""
    if not SHARED_WEIGHTS.is_dir():
        pytest.skip(f"shared weights not found at {SHARED_WEIGHTS}")
    return SHARED_WEIGHTS


@pytest.fixture(scope="session")
def tiny_bids(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic BIDS dataset, simulated once per test session (seed 0)."""
    from fmri_bench.raw.simulate import simulate_dataset

    return simulate_dataset(tmp_path_factory.mktemp("bids") / "synthetic", size="tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory: pytest.TempPathFactory, tiny_bids: Path) -> Path:
    """A data home holding v1 and v2 of the tiny synthetic dataset, prepared once."""
    from fmri_bench.pipeline import prepare_dataset as prepare

    home = tmp_path_factory.mktemp("home")
    prepare("synthetic", versions=("v1", "v2"), source=tiny_bids, data_home=home)
    return home
