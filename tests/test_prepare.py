"""prepare/verify on the tiny synthetic dataset: layout, manifest, no-op re-run, frozen versions, CLI."""

from __future__ import annotations

import copy
import itertools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fmri_bench.cli import main
from fmri_bench.data import load, load_images, prepared_subjects
from fmri_bench.errors import DataError
from fmri_bench.io import sha256_file
from fmri_bench.pipeline import prepare_dataset as prepare
from fmri_bench.prepare import read_manifest, verify
from fmri_bench.recipe import load_recipe, validate


def test_layout_and_manifest(tiny_home: Path, tiny_bids: Path) -> None:
    for version in ("v1", "v2"):
        folder = tiny_home / "synthetic" / version
        manifest = read_manifest(folder)
        assert manifest["parameters_hash"] == load_recipe("synthetic").parameters_hash(version)
        assert manifest["package_versions"]["nilearn"] and manifest["fmri_bench_version"]
        assert prepared_subjects("synthetic", version, data_home=tiny_home) == ["sub-01", "sub-02"]
        for rel, info in manifest["outputs"].items():
            assert sha256_file(folder / rel) == info["sha256"]
        assert {"sub-01/train_fmri.npy", "sub-01/mask.nii.gz", "images_test.npy", "stimuli.tsv"} <= set(
            manifest["outputs"]
        )
        assert any(r["path"].endswith("_bold.nii.gz") and r["bytes"] > 0 for r in manifest["inputs"])
        table = pd.read_csv(folder / "stimuli.tsv", sep="\t")
        images = {s: load_images("synthetic", version, s, data_home=tiny_home) for s in ("train", "test")}
        res = load_recipe("synthetic").resolution
        for split in ("train", "test"):
            rows = table[table["split"] == split]
            assert images[split].shape == (len(rows), res, res, 3) and images[split].dtype == np.uint8
            assert rows["image_index"].is_monotonic_increasing
            name = rows["stimulus_name"].iloc[0]
            assert rows["sha256"].iloc[0] == sha256_file(tiny_bids / "stimuli" / f"{name}.png")
        for subject in ("sub-01", "sub-02"):
            meta = manifest["subjects"][subject]
            raw = load("synthetic", version, subject, data_home=tiny_home, average_test=False)
            assert raw.X_train.dtype == np.float32 and raw.X_train.shape[1] == meta["n_voxels"]
            assert raw.X_train.shape[0] == meta["train"]["kept"] and raw.y_test.size == meta["test"]["kept"]
            assert meta["train"]["dropped"]["one_back_repeat"] > 0
            stored = np.load(folder / subject / "train_labels.npy")
            assert set(stored) <= set(table.loc[table["split"] == "train", "image_index"])
            assert np.isfinite(np.asarray(raw.X_train)).all()
            averaged = load("synthetic", version, subject, data_home=tiny_home)
            assert np.array_equal(averaged.y_test, np.unique(raw.y_test))
            ijk = np.load(folder / subject / "voxel_ijk.npy")
            assert ijk.shape == (meta["n_voxels"], 3)


def test_samples_carry_image_information(tiny_home: Path) -> None:
    """Both versions carry image information (chance is 0.5 for both checks).

    The seed's sanity check: PCA + linear SVC on pairs of test images, trained on 4 blocks
    of each and tested on the other 2; and pairwise correlation identification of each
    test image's mean pattern over 3 repetitions against the mean over the other 3.
    """
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    for version in ("v1", "v2"):
        svc, ident = [], []
        for subject in ("sub-01", "sub-02"):
            data = load("synthetic", version, subject, data_home=tiny_home, average_test=False)
            X, y = np.asarray(data.X_test), data.y_test
            images = np.unique(y)
            for a, b in itertools.combinations(images, 2):
                ia, ib = np.flatnonzero(y == a), np.flatnonzero(y == b)
                train, test = np.r_[ia[:4], ib[:4]], np.r_[ia[4:], ib[4:]]
                model = make_pipeline(PCA(n_components=5), SVC(kernel="linear")).fit(X[train], y[train])
                svc.append(np.mean(model.predict(X[test]) == y[test]))
            halves = [
                np.array([X[np.flatnonzero(y == i)[part]].mean(axis=0) for i in images])
                for part in (slice(0, 3), slice(3, None))
            ]
            corr = np.corrcoef(*halves)[: images.size, images.size :]
            ident += [np.mean(corr[i, i] > np.delete(corr[i], i)) for i in range(images.size)]
        assert np.mean(svc) > 0.55, (version, np.mean(svc))
        assert np.mean(ident) > 0.6, (version, np.mean(ident))


def test_identical_rerun_is_a_fast_noop(tiny_home: Path, tiny_bids: Path) -> None:
    files = sorted((tiny_home / "synthetic").rglob("*"))
    before = {p: p.stat().st_mtime_ns for p in files}
    start = time.perf_counter()
    prepare("synthetic", versions=("v1", "v2"), source=tiny_bids, data_home=tiny_home)
    assert time.perf_counter() - start < 3
    assert {p: p.stat().st_mtime_ns for p in sorted((tiny_home / "synthetic").rglob("*"))} == before


def test_changed_parameters_under_same_version_are_refused(tiny_home: Path, tiny_bids: Path, tmp_path: Path) -> None:
    data = copy.deepcopy(load_recipe("synthetic").data)
    data["versions"]["v1"]["delay_s"] = 6.0
    manifest_before = (tiny_home / "synthetic" / "v1" / "manifest.json").read_bytes()
    with pytest.raises(
        DataError, match=r"prepared under another definition of synthetic v1 \(changed: method.delay_s\)"
    ) as info:
        prepare(validate(data, "test"), versions=("v1",), source=tiny_bids, data_home=tiny_home)
    assert "\n" not in str(info.value)
    assert (tiny_home / "synthetic" / "v1" / "manifest.json").read_bytes() == manifest_before


def test_a_version_prepared_under_the_old_definitions_is_refused_with_how_to_redo_it(
    tiny_home: Path, tiny_bids: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data home from before the v2 redesign (LSA with the cosine drift, no space) is refused by
    prepare, load and the command line, in one line that says what to run."""
    import shutil

    from fmri_bench.io import sha256_json

    home = tmp_path / "home"
    shutil.copytree(tiny_home / "synthetic", home / "synthetic")
    path = home / "synthetic" / "v2" / "manifest.json"
    manifest = json.loads(path.read_text())
    old = manifest["parameters"]
    old["method"].update(drift_model="cosine", trial_model=None)
    del old["method"]["space"], old["method"]["trial_model"]
    manifest["parameters_hash"] = sha256_json(old)
    path.write_text(json.dumps(manifest))
    redo = rf"delete {home / 'synthetic' / 'v2'} and run `fmri-bench prepare synthetic --version v2` to rebuild it"
    with pytest.raises(DataError, match=r"changed: method.drift_model, method.space, method.trial_model\).*" + redo):
        prepare("synthetic", versions=("v2",), source=tiny_bids, data_home=home)
    with pytest.raises(DataError, match=redo):
        load("synthetic", "v2", "sub-01", data_home=home)
    load("synthetic", "v1", "sub-01", data_home=home)  # the untouched version still loads
    capsys.readouterr()
    assert main(["prepare", "synthetic", "--version", "v2", "--source", str(tiny_bids), "--data-home", str(home)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "to rebuild it" in err


def test_verify_catches_a_modified_file(tiny_home: Path, tmp_path: Path) -> None:
    import shutil

    home = tmp_path / "home"
    shutil.copytree(tiny_home / "synthetic", home / "synthetic")
    import fmri_bench

    assert fmri_bench.verify is verify
    assert [p.name for p in verify("synthetic", data_home=home)] == ["v1", "v2"]
    target = home / "synthetic" / "v2" / "sub-02" / "test_fmri.npy"
    array = np.load(target)
    array[0, 0] += 1.0
    np.save(target, array)
    with pytest.raises(DataError, match=r"sub-02/test_fmri.npy: sha256 differs"):
        verify("synthetic", versions=["v2"], data_home=home)
    assert main(["verify", "synthetic", "--data-home", str(home), "--version", "v1"]) == 0
    extra = home / "synthetic" / "v1" / "stray.txt"
    extra.write_text("x")
    with pytest.raises(DataError, match="stray.txt: not listed"):
        verify("synthetic", versions="v1", data_home=home)


def test_cli_prepare_verify_and_one_line_errors(
    tiny_home: Path, tiny_bids: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prepare", "synthetic", "--source", str(tiny_bids), "--data-home", str(tiny_home)]) == 0
    assert main(["verify", "--data-home", str(tiny_home)]) == 0
    capsys.readouterr()
    cases = [
        ["prepare", "ds999", "--data-home", str(tmp_path)],
        ["prepare", "synthetic", "--version", "v7", "--data-home", str(tmp_path)],
        ["prepare", "synthetic", "--source", str(tmp_path / "nowhere"), "--data-home", str(tmp_path)],
        ["prepare", "synthetic", "--source", str(tiny_bids), "--subject", "sub-09", "--data-home", str(tmp_path)],
        ["verify", "ds001506", "--data-home", str(tmp_path)],
        ["prepare", "synthetic", "--backend", "spark", "--data-home", str(tmp_path)],
    ]
    for argv in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "synthetic").exists()  # nothing was written by the failures


def test_subjects_added_later_keep_the_earlier_ones(tiny_bids: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    prepare("synthetic", versions=("v1",), subjects=["sub-02"], source=tiny_bids, data_home=home)
    first = (home / "synthetic" / "v1" / "sub-02" / "train_fmri.npy").read_bytes()
    prepare("synthetic", versions=("v1",), subjects=["sub-01"], source=tiny_bids, data_home=home)
    assert prepared_subjects("synthetic", "v1", data_home=home) == ["sub-01", "sub-02"]
    assert (home / "synthetic" / "v1" / "sub-02" / "train_fmri.npy").read_bytes() == first
    assert verify("synthetic", data_home=home)
    manifest = json.loads((home / "synthetic" / "v1" / "manifest.json").read_text())
    assert set(manifest["subjects"]) == {"sub-01", "sub-02"}


def test_parallel_backends_give_the_same_arrays(tiny_home: Path, tiny_bids: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    prepare(
        "synthetic",
        versions=("v1",),
        subjects=["sub-01"],
        source=tiny_bids,
        data_home=home,
        n_jobs=2,
        backend="threading",
    )
    for name in ("train_fmri", "train_labels", "test_fmri", "test_labels"):
        a = np.load(home / "synthetic" / "v1" / "sub-01" / f"{name}.npy")
        b = np.load(tiny_home / "synthetic" / "v1" / "sub-01" / f"{name}.npy")
        assert np.array_equal(a, b), name


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_source_is_read_only_and_synthetic_is_simulated_on_first_use(tiny_bids: Path, tmp_path: Path) -> None:
    before = _tree(tiny_bids)
    prepare("synthetic", versions=("v1",), subjects=["sub-01"], source=tiny_bids, data_home=tmp_path / "a")
    assert _tree(tiny_bids) == before  # --source is never written to
    # No --source: the synthetic recipe simulates its dataset into <data-home>/raw/synthetic.
    data = copy.deepcopy(load_recipe("synthetic").data)
    data["source"]["size"] = "tiny"
    home = tmp_path / "b"
    folders = prepare(validate(data, "tiny"), versions=("v2",), data_home=home)
    assert (home / "raw" / "synthetic" / "dataset_description.json").is_file()
    assert folders == [home / "synthetic" / "v2"] and prepared_subjects("synthetic", "v2", data_home=home) == [
        "sub-01",
        "sub-02",
    ]
    assert not [p for p in (home / "raw").iterdir() if p.name.startswith(".")]  # no partial simulation left
    a = np.load(tmp_path / "a" / "synthetic" / "v1" / "sub-01" / "train_labels.npy")
    b = np.load(home / "synthetic" / "v2" / "sub-01" / "train_labels.npy")
    assert np.array_equal(a, b)  # same events, same samples, whichever version


def test_a_partial_version_is_completed_by_a_plain_prepare(tiny_bids: Path, tmp_path: Path) -> None:
    # No --subject means every subject of the source, not "whatever was prepared before".
    home = tmp_path / "home"
    prepare("synthetic", versions="v1", subjects="sub-01", source=tiny_bids, data_home=home)
    assert prepared_subjects("synthetic", "v1", data_home=home) == ["sub-01"]
    prepare("synthetic", versions="v1", source=tiny_bids, data_home=home)
    assert prepared_subjects("synthetic", "v1", data_home=home) == ["sub-01", "sub-02"]


def test_a_version_holds_one_source(tiny_home: Path, tiny_bids: Path, tmp_path: Path) -> None:
    other = tmp_path / "other_copy"
    (other / "sub-01").mkdir(parents=True)  # another BIDS copy (an empty one is refused earlier)
    before = read_manifest(tiny_home / "synthetic" / "v1")
    with pytest.raises(DataError, match="was prepared from .*a version holds one source"):
        prepare("synthetic", versions="v1", source=other, data_home=tiny_home)
    assert read_manifest(tiny_home / "synthetic" / "v1") == before


def test_the_source_identity_is_part_of_the_version_hash() -> None:
    recipe = load_recipe("synthetic")
    data = copy.deepcopy(recipe.data)
    data["source"]["seed"] = 5
    assert validate(data, "seed 5").parameters_hash("v1") != recipe.parameters_hash("v1")
