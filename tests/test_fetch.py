"""fetch: a real datalad/git-annex dataset built offline, cloned by path, pinned and partially fetched."""

from __future__ import annotations

import copy
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from replica_support import write_replica

from fmri_bench.errors import DataError, NetworkError
from fmri_bench.raw.openneuro import check_reachable, download, git_environment
from fmri_bench.recipe import load_recipe, validate


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def annexed_dataset(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> tuple[Path, str]:
    """A datalad dataset with two ds001506-like subjects, every file in the annex, tagged 1.0.0; and
    beside it (``<origin>-fmriprep``) their fMRIPrep derivatives as a datalad dataset of its own, as
    OpenNeuroDerivatives publishes them."""
    import datalad.api as dl

    base = tmp_path_factory.mktemp("origin")
    replica = base / "replica"
    for subject in ("sub-01", "sub-02"):
        write_replica(reference_dir, "ds001506", subject, replica, splits=["train", "test"], max_runs_per_split=1)
    root, derivatives = base / "ds", base / "ds-fmriprep"
    with git_environment():
        for target, source in ((root, replica), (derivatives, replica / "derivatives" / "fmriprep")):
            ds = dl.create(path=str(target), result_renderer="disabled")
            shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("derivatives"))
            ds.save(message="replica", result_renderer="disabled")
        _git(root, "tag", "1.0.0")
    return root, _git(root, "rev-parse", "HEAD")


def _recipe(origin: Path, commit: str, fmriprep_commit: str | None = None):
    data = copy.deepcopy(load_recipe("ds001506").data)
    data["source"].update({"url": str(origin), "commit": commit, "release": "1.0.0"})
    derivatives = origin.with_name(origin.name + "-fmriprep")
    data["fmriprep"].update(
        {"url": str(derivatives), "commit": fmriprep_commit or _git(derivatives, "rev-parse", "HEAD")}
    )
    data["subjects"] = ["sub-01", "sub-02"]
    return validate(data, "test")


def _present(path: Path) -> bool:
    return os.path.exists(path)  # an annexed file not fetched is a broken symlink


def test_fetch_gets_only_needed_files_and_resumes(annexed_dataset, tmp_path: Path) -> None:
    origin, commit = annexed_dataset
    recipe = _recipe(origin, commit)
    clone = download(recipe, subjects=["sub-01"], target=tmp_path / "clone")
    assert _git(clone, "rev-parse", "HEAD") == commit
    bolds = {s: sorted((clone / s).rglob("*_bold.nii.gz")) for s in ("sub-01", "sub-02")}
    assert len(bolds["sub-01"]) == 2 and len(bolds["sub-02"]) == 2
    assert not (clone / "derivatives").exists()  # the raw release holds no derivatives
    assert all(_present(p) for p in bolds["sub-01"])
    assert not any(_present(p) for p in bolds["sub-02"])  # the other subject stays in the annex
    assert all(os.path.lexists(p) for p in bolds["sub-02"])
    masks = sorted((clone / "sourcedata" / "sub-01" / "anat").glob("*HVC*"))
    assert masks and not any(_present(p) for p in masks)  # HVC is in no version's ROI set

    # The size shown before downloading comes from git-annex: what sub-02 still needs.
    from fmri_bench.raw.openneuro import missing_bytes, needed_files

    files = needed_files(clone, recipe, ["sub-02"], ["v1", "v2"])
    missing, total, absent = missing_bytes(clone, files)
    origin_sizes = sum((origin / p.relative_to(clone)).stat().st_size for p in files)
    assert total == origin_sizes
    # (sub-02's masks have the same content, hence annex key, as sub-01's: already here)
    assert missing == sum((origin / p.relative_to(clone)).stat().st_size for p in files if not _present(p))
    assert {p.name for p in absent} == {p.name for p in files if not _present(p)} and any(
        "bold" in p.name for p in absent
    )
    assert missing_bytes(clone, needed_files(clone, recipe, ["sub-01"], ["v1", "v2"]))[0] == 0

    # An interrupted download: drop one fetched file (as if its transfer never finished).
    with git_environment():
        subprocess.run(
            ["git", "-C", str(clone), "annex", "drop", "--force", str(bolds["sub-01"][0])],
            check=True,
            capture_output=True,
        )
    assert not _present(bolds["sub-01"][0])
    download(recipe, subjects=["sub-01"], target=clone)
    assert _present(bolds["sub-01"][0])

    # The clone prepares like any BIDS copy, and the manifest records the annex keys.
    from fmri_bench.pipeline import prepare_dataset as prepare
    from fmri_bench.prepare import read_manifest
    from fmri_bench.raw.openneuro import download_fmriprep

    derivatives = download_fmriprep(recipe, clone, subjects=["sub-01"], target=tmp_path / "fmriprep")
    folder = prepare(
        recipe, versions=("v1",), subjects=["sub-01"], source=clone, fmriprep=derivatives, data_home=tmp_path / "home"
    )[0]
    manifest = read_manifest(folder)
    assert manifest["release"]["commit"] == commit
    assert any(
        r.get("annex_key", "").startswith("MD5E-") for r in manifest["inputs"] if r["path"].endswith("bold.nii.gz")
    )


def test_fmriprep_derivatives_download_only_the_transforms_of_the_requested_runs(
    annexed_dataset, tmp_path: Path
) -> None:
    from fmri_bench.raw.openneuro import download_fmriprep

    origin, commit = annexed_dataset
    recipe = _recipe(origin, commit)
    raw = download(recipe, subjects=["sub-01"], target=tmp_path / "raw")
    root = download_fmriprep(recipe, raw, subjects=["sub-01"], target=tmp_path / "fmriprep")
    assert _git(root, "rev-parse", "HEAD") == recipe.fmriprep["commit"]
    files = {s: sorted((root / s).rglob("*_*")) for s in ("sub-01", "sub-02")}
    fetched = {p.name.split("_run-01")[1] for p in files["sub-01"] if _present(p)}
    assert fetched == {
        "_from-orig_to-boldref_mode-image_desc-hmc_xfm.txt",
        "_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt",
        "_desc-hmc_boldref.nii.gz",
    }  # both runs' transforms and hmc boldrefs; the coreg boldrefs are not needed
    assert len([p for p in files["sub-01"] if _present(p)]) == 6
    assert files["sub-02"] and not any(_present(p) for p in files["sub-02"])  # the other subject stays in the annex
    with pytest.raises(DataError, match="has no commit 1111"):
        download_fmriprep(_recipe(origin, commit, "1" * 40), raw, subjects=["sub-01"], target=tmp_path / "other")


def test_wrong_commit_is_refused(annexed_dataset, tmp_path: Path) -> None:
    origin, _ = annexed_dataset
    recipe = _recipe(origin, "0" * 40)
    with pytest.raises(DataError, match="has no commit 0000") as info:
        download(recipe, subjects=["sub-01"], target=tmp_path / "clone")
    assert "\n" not in str(info.value)


def test_moved_release_tag_is_refused(annexed_dataset, tmp_path: Path) -> None:
    origin, commit = annexed_dataset
    first = _git(origin, "rev-list", "--max-parents=0", "HEAD")  # an older commit than the tag
    with pytest.raises(DataError, match="tag 1.0.0 is commit"):
        download(_recipe(origin, first), subjects=["sub-01"], target=tmp_path / "clone")


def test_no_network_fails_fast_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def unreachable(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    start = time.perf_counter()
    with pytest.raises(NetworkError, match="--source") as info:
        download("ds001506", subjects=["sub-01"], data_home=tmp_path)
    assert time.perf_counter() - start < 5
    assert "\n" not in str(info.value) and "github.com" in str(info.value)
    assert not (tmp_path / "raw" / "ds001506").exists()
    check_reachable(str(tmp_path))  # a local path needs no network


def test_prepare_without_source_clones_and_fetches(annexed_dataset, tmp_path: Path) -> None:
    from fmri_bench.pipeline import prepare_dataset as prepare
    from fmri_bench.prepare import read_manifest

    origin, commit = annexed_dataset
    home = tmp_path / "home"
    folder = prepare(_recipe(origin, commit), versions=("v1",), subjects=["sub-02"], data_home=home)[0]
    clone = home / "raw" / "ds001506"
    assert _git(clone, "rev-parse", "HEAD") == commit
    assert all(_present(p) for p in (clone / "sub-02").rglob("*_bold.nii.gz"))
    assert not any(_present(p) for p in (clone / "sub-01").rglob("*_bold.nii.gz"))
    manifest = read_manifest(folder)
    assert list(manifest["subjects"]) == ["sub-02"]
    # the T1w version resampled through the pinned derivatives, fetched for sub-02 only
    derivatives = home / "raw" / "ds001506-fmriprep"
    assert manifest["release"]["fmriprep"]["commit"] == _git(derivatives, "rev-parse", "HEAD")
    assert all(_present(p) for p in (derivatives / "sub-02").rglob("*_xfm.txt"))
    assert not any(_present(p) for p in (derivatives / "sub-01").rglob("*_xfm.txt"))
    assert manifest["subjects"]["sub-02"]["alignment"]["flagged"] == []


def test_an_interrupted_clone_leaves_nothing_and_the_next_run_clones(
    annexed_dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datalad.api as dl

    origin, commit = annexed_dataset
    real_clone = dl.clone

    def interrupted_clone(source: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        Path(path, ".git").mkdir(parents=True)  # what a clone killed half-way leaves
        raise KeyboardInterrupt

    target = tmp_path / "clone"
    monkeypatch.setattr(dl, "clone", interrupted_clone)
    with pytest.raises(KeyboardInterrupt):
        download(_recipe(origin, commit), subjects=["sub-01"], versions=["v1"], target=target)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(dl, "clone", real_clone)
    root = download(_recipe(origin, commit), subjects=["sub-01"], versions=["v1"], target=target)
    assert _git(root, "rev-parse", "HEAD") == commit
