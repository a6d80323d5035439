"""The deep-feature path end to end with the real offline SqueezeNet / MobileNetV2 weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fmri_bench.errors import FmriBenchError
from fmri_bench.metrics import MetricInputs, evaluate_detailed
from fmri_bench.metrics.protocols import mindeye
from fmri_bench.weights import WeightsError, checkpoints_dir, import_weights, resolve

SQUEEZE = "squeezenet1_0-imagenet-deepcompression.pth"
MOBILE = "mobilenet_v2-imagenet-coral-dequant.pth"
DEEP = ["squeezenet", "feature_mse"]


def _images(n: int, size: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3))
    for i in range(n):
        for c in range(3):
            f, a = rng.uniform(1, 6), rng.uniform(0, np.pi)
            out[i, :, :, c] = 0.5 + 0.45 * np.sin(2 * np.pi * f * (xx * np.cos(a) + yy * np.sin(a)) + rng.uniform(0, 6))
    return (out * 255).astype(np.uint8)


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty torch cache for one test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


@pytest.fixture
def with_weights(torch_home: Path, shared_weights: Path) -> Path:
    import_weights("squeezenet1_0", shared_weights / SQUEEZE)
    import_weights("mobilenet_v2", shared_weights / MOBILE)
    return torch_home


def test_import_places_the_file_in_the_torch_cache_by_checksum(torch_home: Path, shared_weights: Path) -> None:
    dest = import_weights("squeezenet1_0", shared_weights / SQUEEZE)
    assert dest == checkpoints_dir() / SQUEEZE and dest.parent == torch_home / "hub" / "checkpoints"
    assert dest.read_bytes() == (shared_weights / SQUEEZE).read_bytes()
    resolved = resolve("squeezenet1_0")
    assert resolved.available and resolved.sha256.startswith("468dbf6c9b78")
    assert resolved.file.mean == (0.485, 0.456, 0.406)
    mobile = import_weights("mobilenet_v2", shared_weights / MOBILE)
    # The Coral file declares its own preprocessing: [-1, 1] input at 225 px.
    assert resolve("mobilenet_v2").file.mean == (0.5, 0.5, 0.5) and resolve("mobilenet_v2").file.input_size == 225
    assert mobile.name == MOBILE


def test_a_wrong_file_is_refused_in_one_line(torch_home: Path, shared_weights: Path, tmp_path: Path) -> None:
    with pytest.raises(WeightsError) as info:
        import_weights("mobilenet_v2", shared_weights / SQUEEZE)
    message = str(info.value)
    assert "\n" not in message and "not an accepted weight file for mobilenet_v2" in message
    assert not (checkpoints_dir() / SQUEEZE).exists()
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not weights")
    with pytest.raises(FmriBenchError, match="not an accepted weight file"):
        import_weights("squeezenet1_0", junk)
    with pytest.raises(FmriBenchError, match="unknown backbone"):
        import_weights("vgg99", junk)


def test_a_cached_file_with_the_wrong_checksum_is_not_used(torch_home: Path) -> None:
    folder = checkpoints_dir()
    folder.mkdir(parents=True)
    (folder / "squeezenet1_0-b66bff10.pth").write_bytes(b"tampered")
    resolved = resolve("squeezenet1_0")
    assert not resolved.available and "fails its checksum" in resolved.reason
    ev = evaluate_detailed(_images(3), _images(3), ["squeezenet"])
    assert ev.metrics["squeezenet"] is None and "fails its checksum" in ev.unavailable["squeezenet"]


def test_absent_weights_are_na_with_a_reason_and_never_substituted(torch_home: Path) -> None:
    imgs = _images(3)
    ev = evaluate_detailed(imgs, imgs, ["alexnet2", "feature_mse", "clip", "swav"])
    assert ev.metrics == {"alexnet2": None, "feature_mse": None, "clip": None, "swav": None}
    assert "alexnet-owt-7be5be79.pth" in ev.unavailable["alexnet2"]
    assert "mobilenet_v2" in ev.unavailable["feature_mse"]
    assert "swav_800ep_pretrain.pth.tar" in ev.unavailable["swav"]
    import importlib.util

    if importlib.util.find_spec("open_clip") is None:
        assert ev.unavailable["clip"].startswith("open_clip not installed")


def test_deep_metrics_run_end_to_end_with_the_shared_weights(with_weights: Path) -> None:
    targets = _images(4, seed=1)
    ident = evaluate_detailed(targets, targets, DEEP)
    assert ident.metrics["squeezenet"] == 1.0
    assert ident.metrics["feature_mse"] == pytest.approx(0.0, abs=1e-10)
    assert SQUEEZE in ident.weights["squeezenet"] and MOBILE in ident.weights["feature_mse"]
    noisy = np.clip(targets / 255 + np.random.default_rng(0).normal(0, 0.25, targets.shape), 0, 1)
    ev = evaluate_detailed(targets, noisy, DEEP)
    assert np.isfinite(ev.metrics["feature_mse"]) and ev.metrics["feature_mse"] > 0
    assert 0.0 <= ev.metrics["squeezenet"] <= 1.0
    lo, hi = ev.intervals["squeezenet"]
    assert lo <= ev.metrics["squeezenet"] <= hi


def test_features_have_the_declared_shapes_and_are_finite(with_weights: Path) -> None:
    imgs = _images(2, seed=3)
    inputs = MetricInputs.from_arrays(imgs, imgs)
    t, r = inputs.features(mindeye.SQUEEZENET)
    assert t.shape == (2, 512 * 13 * 13) and np.isfinite(t).all() and np.array_equal(t, r)
    t, _ = inputs.features(mindeye.FEATURE_MSE)  # the file's 225 px
    assert t.shape == (2, 1280) and np.isfinite(t).all() and t.std() > 0
    assert mindeye.at_size(inputs, "targets", 225).shape[-1] == 225


def test_each_network_is_loaded_once(with_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fmri_bench.weights as weights

    weights._load_cached.cache_clear()
    calls = []
    real = weights._load_into
    monkeypatch.setattr(weights, "_load_into", lambda bb, path: calls.append(bb.name) or real(bb, path))
    imgs = _images(3)
    evaluate_detailed(imgs, imgs, DEEP)
    evaluate_detailed(imgs, imgs[::-1].copy(), DEEP)
    assert sorted(calls) == ["mobilenet_v2", "squeezenet1_0"]


def test_a_structurally_wrong_file_under_an_unchecked_name_is_refused(
    torch_home: Path, shared_weights: Path, tmp_path: Path
) -> None:
    # SwAV publishes no checksum: a file is accepted only with the sha256 you vouch for, and
    # only if it loads into ResNet-50.
    import hashlib

    fake = tmp_path / "swav_800ep_pretrain.pth.tar"
    shutil.copyfile(shared_weights / SQUEEZE, fake)
    digest = hashlib.sha256(fake.read_bytes()).hexdigest()
    with pytest.raises(WeightsError, match="not a resnet50_swav checkpoint") as info:
        import_weights("resnet50_swav", fake, sha256=digest)
    assert "\n" not in str(info.value)


def test_repeated_reconstructions_run_once_and_match_their_features(with_weights: Path) -> None:
    imgs = _images(3, seed=5)
    repeated = np.repeat(imgs[:1], 3, axis=0)  # like the chance reference: one image for every target
    inputs = MetricInputs.from_arrays(imgs, repeated)
    t, r = inputs.features(mindeye.SQUEEZENET)
    np.testing.assert_allclose(r, np.repeat(t[:1], 3, axis=0), rtol=1e-4, atol=1e-4)


def test_weights_cli_lists_and_imports(
    torch_home: Path, shared_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fmri_bench.cli import main

    capsys.readouterr()
    assert main(["weights", "import", "mobilenet_v2", str(shared_weights / SQUEEZE)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "not an accepted weight file for mobilenet_v2" in err
    assert main(["weights", "import", "squeezenet1_0", str(shared_weights / SQUEEZE)]) == 0
    assert str(checkpoints_dir() / SQUEEZE) in capsys.readouterr().out
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "squeezenet1_0" in out and "verified" in out and "clip_vit_l14" in out
    assert "absent" in out


def test_target_features_are_kept_between_runs_in_the_callers_store(
    with_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fmri_bench.metrics.core as core
    from fmri_bench.pipeline.cache import FeatureStore

    targets, recons = _images(6, seed=1), _images(6, seed=2)
    store = FeatureStore(tmp_path / "features")
    first = evaluate_detailed(targets, recons, ["squeezenet"], feature_cache=store)
    assert len(store) == 1 and first.metrics["squeezenet"] is not None
    # A fresh process: nothing in memory, the network runs only on the reconstructions.
    monkeypatch.setattr(core, "_TARGET_FEATURES", {})
    calls = []
    real = core.extract_features
    monkeypatch.setattr(core, "extract_features", lambda *a, **k: calls.append(len(a[2])) or real(*a, **k))
    again = evaluate_detailed(targets, recons, ["squeezenet"], feature_cache=store)
    assert again.metrics == first.metrics and calls == [6]  # the recons' pass only
    # A truncated cache file is recomputed, never trusted.
    (file,) = (tmp_path / "features").glob("*.npz")
    file.write_bytes(file.read_bytes()[:100])
    monkeypatch.setattr(core, "_TARGET_FEATURES", {})
    calls.clear()
    assert evaluate_detailed(targets, recons, ["squeezenet"], feature_cache=store).metrics == first.metrics
    assert calls == [6, 6] and len(store) == 1


def test_target_features_computed_with_another_thread_count_are_not_reused(
    with_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scoring runs on one thread; features cached by a scoring on two (before it was pinned)
    # differ in their last bits, so a store that holds them must compute the targets again.
    import importlib

    import fmri_bench.metrics.core as core
    from fmri_bench.pipeline.cache import FeatureStore
    from fmri_bench.threads import torch_cpu_threads

    evaluate_module = importlib.import_module("fmri_bench.metrics.evaluate")  # the attribute is the function
    targets, recons = _images(6, seed=1), _images(6, seed=2)
    store = FeatureStore(tmp_path / "features")
    shipped = evaluate_module.one_cpu_thread
    monkeypatch.setattr(evaluate_module, "one_cpu_thread", lambda: torch_cpu_threads(2))
    evaluate_detailed(targets, recons, ["squeezenet"], feature_cache=store)
    assert len(store) == 1
    monkeypatch.setattr(evaluate_module, "one_cpu_thread", shipped)  # scoring as shipped: one thread
    monkeypatch.setattr(core, "_TARGET_FEATURES", {})
    calls = []
    real = core.extract_features
    monkeypatch.setattr(core, "extract_features", lambda *a, **k: calls.append(len(a[2])) or real(*a, **k))
    one = evaluate_detailed(targets, recons, ["squeezenet"], feature_cache=store)
    assert calls == [6, 6] and len(store) == 2  # the targets ran again, under a key of their own
    monkeypatch.setattr(core, "_TARGET_FEATURES", {})
    calls.clear()
    assert evaluate_detailed(targets, recons, ["squeezenet"], feature_cache=store).metrics == one.metrics
    assert calls == [6]  # and one thread's own entry is reused
