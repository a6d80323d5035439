"""Bad input and safety (the adversarial pass of issue 10): each item refused in one line before the
work, or made harmless; concurrent and killed runs; workers; a Dask cluster gives the same bytes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from fmri_bench.cli import main
from fmri_bench.errors import DataError, FmriBenchError
from fmri_bench.pipeline import prepare_dataset as prepare
from fmri_bench.prepare import read_manifest, verify
from fmri_bench.prepare.parallel import effective_jobs


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _never(*args, **kwargs):
    raise AssertionError("a run was processed: the check did not come before the work")


def test_dataset_and_version_names_on_the_command_line_stay_in_the_data_home(
    tiny_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "other" / "synthetic" / "v1"
    outside.mkdir(parents=True)
    (outside / "manifest.json").write_text("{}")
    home = tmp_path / "home"
    capsys.readouterr()
    for argv in (
        ["verify", "../other/synthetic", "--data-home", str(home)],
        ["verify", "synthetic", "--version", "../../other/synthetic/v1", "--data-home", str(home)],
        ["score", "x.npy", "--dataset", "../other/synthetic", "--data-home", str(home)],
        ["run-baseline", "pca-ridge", "--dataset", "../other/synthetic", "--data-home", str(home), "--no-score"],
        ["run-baseline", "pca-ridge", "--version", "../v1", "--data-home", str(tiny_home), "--no-score"],
        ["prepare", "synthetic", "--version", "../v1", "--data-home", str(home)],
        ["prepare", "", "--data-home", str(home)],
    ):
        assert main(argv) in (1, 2), argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("not allowed" in err or "no version" in err or "unknown dataset" in err), err
    assert not home.exists() and not (tmp_path / "other" / "synthetic" / "v1" / "sub-01").exists()


def test_an_empty_source_is_refused(tiny_home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty: no sub-\* folder; expected a BIDS copy of synthetic"):
        prepare("synthetic", source=empty, data_home=tmp_path / "home")
    assert not (tmp_path / "home" / "synthetic").exists()
    # nor does it pass as "already prepared" where a version exists
    with pytest.raises(DataError, match=r"no sub-\* folder"):
        prepare("synthetic", versions=("v1",), source=empty, data_home=tiny_home)


def test_two_prepares_of_one_data_home_are_serialized(tiny_bids: Path, tmp_path: Path) -> None:
    """Different subjects of one version at the same time: both land (the lock makes the second
    wait, then it adds its subject to the first's version)."""
    home = tmp_path / "home"
    errors: list[BaseException] = []

    def one(subject: str) -> None:
        try:
            prepare("synthetic", versions=("v1",), subjects=[subject], source=tiny_bids, data_home=home)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(s,)) for s in ("sub-01", "sub-02")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert set(read_manifest(home / "synthetic" / "v1")["subjects"]) == {"sub-01", "sub-02"}
    verify("synthetic", data_home=home)


def test_nan_in_a_bold_file_is_refused_naming_the_file(tiny_bids: Path, tmp_path: Path) -> None:
    import shutil

    bids = tmp_path / "bids"
    shutil.copytree(tiny_bids, bids)
    bold = sorted(bids.rglob("*_bold.nii.gz"))[3]
    img = nib.load(bold)
    data = np.asarray(img.dataobj).astype(np.float32)
    data[0, 0, 0, 5] = np.inf  # even a voxel outside every ROI
    header = img.header.copy()
    header.set_data_dtype(np.float32)
    nib.save(nib.Nifti1Image(data, img.affine, header), bold)
    with pytest.raises(DataError, match=rf"{bold}: (volume 5 )?holds NaN or inf values"):
        prepare("synthetic", versions=("v1",), source=bids, data_home=tmp_path / "home")
    assert not (tmp_path / "home" / "synthetic" / "v1").exists()


def test_n_jobs_is_capped_at_the_cpu_count() -> None:
    cpus = os.cpu_count() or 1
    assert effective_jobs(1000) == cpus and effective_jobs(1) == 1 and effective_jobs(-1) == cpus
    assert effective_jobs(-cpus - 5) == 1
    with pytest.raises(FmriBenchError, match="--n-jobs must be a positive number"):
        effective_jobs(0)


SLOW_RUNS = """
import time
import fmri_bench.prepare.extract as extract
_real = extract._process_run
def _slow(task):
    time.sleep(60)  # a long run: the workers are busy when their parent is killed
    return _real(task)
extract._process_run = _slow
"""


def test_killing_prepare_leaves_no_worker(tiny_bids: Path, tmp_path: Path) -> None:
    """SIGKILL a prepare whose loky workers are busy: the workers notice within seconds and exit
    (without the watch they ran on for the whole task, then idled for loky's 300 s)."""
    import psutil

    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "sitecustomize.py").write_text(SLOW_RUNS)  # imported by every Python process
    command = [sys.executable, "-m", "fmri_bench.cli", "prepare", "synthetic", "--source", str(tiny_bids)]
    command += ["--data-home", str(tmp_path / "home"), "--n-jobs", "2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "slow"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    parent = psutil.Process(proc.pid)
    deadline, workers = time.time() + 60, []
    while time.time() < deadline and len(workers) < 2:
        workers = [p for p in parent.children(recursive=True) if "loky" in " ".join(p.cmdline())]
        time.sleep(0.2)
    assert len(workers) >= 2, "the workers did not start"
    everyone = parent.children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(everyone, timeout=15)
    for p in alive:  # do not leave them to the next test
        p.kill()
    assert not alive, [p.cmdline() for p in alive]
    assert not list((tmp_path / "home" / "synthetic").glob("v1"))  # and nothing half-written took the name


def test_leftovers_of_a_killed_run_are_not_versions_and_are_cleaned(
    tiny_home: Path, tiny_bids: Path, tmp_path: Path
) -> None:
    import shutil

    home = tmp_path / "home"
    shutil.copytree(tiny_home / "synthetic", home / "synthetic")
    partial = home / "synthetic" / ".v1.partial-abc123"
    shutil.copytree(home / "synthetic" / "v1", partial)  # killed just before the swap: manifest included
    old = home / "synthetic" / ".v2.old-xyz" / "v2"
    shutil.copytree(home / "synthetic" / "v2", old)
    assert [p.name for p in verify("synthetic", data_home=home)] == ["v1", "v2"]
    prepare("synthetic", versions=("v1",), source=tiny_bids, data_home=home)  # nothing to do, but it cleans
    assert sorted(p.name for p in (home / "synthetic").iterdir()) == ["v1", "v2"]


def test_prepared_folders_get_the_umask_permissions(tiny_home: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    folder = tiny_home / "synthetic" / "v1"
    for path in (folder, folder / "sub-01"):
        assert path.stat().st_mode & 0o777 == 0o777 & ~umask, oct(path.stat().st_mode)
    assert (folder / "sub-01" / "train_fmri.npy").stat().st_mode & 0o777 == 0o666 & ~umask


def test_missing_stimuli_full_disk_and_unwritable_home_are_reported_before_the_work(
    tiny_bids: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import fmri_bench.prepare.core as core

    monkeypatch.setattr(core, "_extract", _never)
    home = tmp_path / "home"
    with pytest.raises(DataError, match=rf"{tmp_path / 'nowhere'}: no such stimulus folder"):
        prepare("synthetic", versions=("v1",), source=tiny_bids, stimuli=tmp_path / "nowhere", data_home=home)
    with monkeypatch.context() as m:
        m.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 10**6, 10**6))
        with pytest.raises(DataError, match=rf"{home / 'synthetic'}: only 1 MB free; prepare needs at least 50 MB"):
            prepare("synthetic", versions=("v1",), source=tiny_bids, data_home=home)
    with monkeypatch.context() as m:

        def refuse(*args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system")

        m.setattr(core.tempfile, "TemporaryFile", refuse)
        with pytest.raises(
            DataError, match=rf"{home / 'synthetic'}: cannot write the prepared data here \(Read-only file system\)"
        ):
            prepare("synthetic", versions=("v1",), source=tiny_bids, data_home=home)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(DataError, match=rf"{blocked}: cannot write to the data home"):
        prepare("synthetic", versions=("v1",), source=tiny_bids, data_home=blocked)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning", "ignore::UserWarning")
def test_a_dask_cluster_gives_the_same_bytes_as_the_local_backend(
    tiny_home: Path, tiny_bids: Path, tmp_path: Path
) -> None:
    """The LocalCluster prepare starts itself (2 worker processes on the loopback), and a running
    scheduler reached by its address (--scheduler; here one with thread workers, quick to start):
    byte-identical outputs to the in-process run."""
    from distributed import LocalCluster

    local = read_manifest(tiny_home / "synthetic" / "v2")["outputs"]
    prepare("synthetic", versions=("v2",), source=tiny_bids, data_home=tmp_path / "a", backend="dask", n_jobs=2)
    assert read_manifest(tmp_path / "a" / "synthetic" / "v2")["outputs"] == local
    with LocalCluster(
        n_workers=2, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        argv = ["prepare", "synthetic", "--version", "v2", "--source", str(tiny_bids), "--backend", "dask"]
        assert main([*argv, "--scheduler", cluster.scheduler_address, "--data-home", str(tmp_path / "b")]) == 0
    assert read_manifest(tmp_path / "b" / "synthetic" / "v2")["outputs"] == local
    with pytest.raises(FmriBenchError, match="--scheduler needs --backend dask"):
        prepare("synthetic", source=tiny_bids, data_home=tmp_path / "c", scheduler="tcp://127.0.0.1:1")
