"""The VAE-GAN image prior and the seed's GAN inversion: stream, training, cache, encoder, search."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import gan, vaegan
from fmri_bench.io import sha256_file
from fmri_bench.pipeline import run_baseline

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
#: A training run small enough for a test (3 steps of 4 images).
TINY_TRAIN = vaegan.TrainConfig(steps=2, batch_size=4, prior_batch=2, adv_start=1, eval_every=2)


def test_image_stream_is_deterministic_and_disjoint_from_the_dataset() -> None:
    from fmri_bench.raw.simulate.config import SIZES
    from fmri_bench.raw.simulate.stimuli import _make_stimuli

    a, b = vaegan.render_batch(0, 5, 3), vaegan.render_batch(0, 5, 3)
    assert a.shape == (3, 64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, vaegan.render_batch(0, 6, 3)) and not np.array_equal(a, vaegan.render_batch(1, 5, 3))
    _, stimuli = _make_stimuli(SIZES["tiny"], 0)
    small = {vaegan._lanczos(im, 64).tobytes() for im in stimuli}
    stream = np.concatenate([vaegan.render_batch(0, k, 8) for k in range(4)])
    assert not small & {im.tobytes() for im in stream}  # never a dataset stimulus
    assert stream.std() > 20  # images with content, not flat fields


def _train_bytes(seed: int) -> tuple[bytes, dict]:
    G, E, history = vaegan.train(vaegan.ModelConfig(), vaegan.TrainConfig(**{**TINY_TRAIN.__dict__, "seed": seed}))
    state = b"".join(t.numpy().tobytes() for t in [*G.state_dict().values(), *E.state_dict().values()])
    return state, history


def test_training_is_deterministic() -> None:
    # that it learns: the shipped checkpoints' records (test_shipped_generators_load_with_their_records)
    first, history = _train_bytes(0)
    assert first == _train_bytes(0)[0]  # same seed, same bytes
    assert first != _train_bytes(1)[0]
    assert len(history["rec_l1"]) == 2 and history["d_loss"][-1] > 0  # the adversarial term ran


def test_checkpoint_round_trip_and_bad_files(tmp_path: Path) -> None:
    G, E, _ = vaegan.build(vaegan.ModelConfig(), 0)
    vaegan.save_checkpoint(tmp_path / "g.pt", G, E, vaegan.ModelConfig(), {"seed": 0})
    G2, E2, meta = vaegan.load_checkpoint(tmp_path / "g.pt")
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(G(z), G2(z), atol=0.02) and meta["seed"] == 0 and meta["format"] == vaegan.CODE_VERSION
    data = (tmp_path / "g.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(FmriBenchError, match="not a readable VAE-GAN checkpoint"):
        vaegan.load_checkpoint(tmp_path / "cut.pt")


def test_shipped_generator_loads_with_its_record() -> None:
    import json

    path = vaegan.SHIPPED
    assert path.is_file() and path.stat().st_size < 2_000_000, path
    G, E, meta = vaegan.load_checkpoint(path)
    assert meta["seed"] == 0 and "train_generator" in meta["command"]
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["checkpoint"]["sha256"] == sha256_file(path)
    assert record["heldout_dataset_stimuli"]["test"]["ssim"] > 0.85  # it reconstructs held-out stimuli
    assert gan.get_prior(
        generator=None, gan_images=None, seed=0, steps=vaegan.TrainConfig.steps, cache_dir=None
    ).origin == ("shipped:vaegan-stimuli64-seed0.pt")  # seeds 1 and 2: tests/test_generator_seeds.py


def test_generator_cache_key_trains_once_and_retrains_a_corrupt_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.fromarray(vaegan.render_batch(3, i, 1)[0]).save(tmp_path / "imgs" / f"{i}.png")
    monkeypatch.setattr(vaegan, "TrainConfig", lambda **kw: vaegan.dataclasses.replace(TINY_TRAIN, **kw))
    kw = {"generator": None, "gan_images": str(tmp_path / "imgs"), "seed": 0, "steps": 3, "cache_dir": tmp_path}
    first = gan.get_prior(**kw)
    (path,) = (tmp_path / "gan").glob("*.pt")
    stamp = path.stat().st_mtime_ns
    second = gan.get_prior(**kw)
    assert path.stat().st_mtime_ns == stamp and first.origin == second.origin
    path.write_bytes(path.read_bytes()[:100])  # truncated (a killed copy, a full disk)
    with caplog.at_level(logging.WARNING):
        third = gan.get_prior(**kw)
    assert "training it again" in caplog.text and vaegan.load_checkpoint(path)
    z = torch.zeros(1, first.generator.z_dim)
    with torch.no_grad():
        assert torch.equal(first.generator(z), third.generator(z))  # retrained to the same bytes
    config = vaegan.TrainConfig(seed=0, steps=3)
    key = gan.cache_key("stream", config, "cpu")
    assert key != gan.cache_key("stream", config, "cuda")
    monkeypatch.setattr(torch, "__version__", "0.0.0")
    assert key != gan.cache_key("stream", config, "cpu")
    monkeypatch.setattr(vaegan, "CODE_VERSION", "other")
    assert gan.cache_key("stream", config, "cpu") not in (key,)


def test_embedding_encoder_predicts_what_images_determine_and_search_moves_toward_it() -> None:
    images = np.concatenate([vaegan.render_batch(4, k, 20) for k in range(4)])
    feats = gan.image_features(images)
    rng = np.random.default_rng(0)
    embedding = np.c_[feats @ rng.normal(size=(feats.shape[1], 3)), rng.normal(size=(80, 2))]  # 3 real, 2 noise
    enc, mean, scale, r = gan.fit_embedding_encoder(images, embedding)
    assert (r[:3] > 0.7).all() and (np.abs(r[3:]) < 0.4).all()
    w = gan.search_weights(r)
    assert w[:3].min() > 10 * w[3:].max() and w.sum() == pytest.approx(1)
    G, E, _ = vaegan.load_checkpoint(vaegan.SHIPPED)
    target = (embedding[:4] - mean) / scale
    z0 = np.zeros((4, G.z_dim), np.float32)

    def fit(z: np.ndarray) -> float:
        with torch.no_grad():
            return float(((enc(G(torch.as_tensor(z))) - torch.as_tensor(target, dtype=torch.float32)) ** 2 * w).sum())

    z = gan.search_latents(G, enc, target, z0, w, steps=20, prior=0.0)
    assert fit(z) < 0.5 * fit(z0)


def test_bad_gan_parameters_are_refused_before_any_work(tiny_home: Path, tmp_path: Path) -> None:
    bad = [
        ({"generator": str(tmp_path / "missing.pt")}, "no such file"),
        ({"gan_images": str(tmp_path / "none")}, "not a folder"),
        ({"inversion": "guess"}, "inversion"),
        ({"search_steps": "-1"}, "search_steps"),
        ({"gan_steps": "0"}, "gan_steps"),
    ]
    for params, message in bad:
        with pytest.raises(FmriBenchError, match=message):
            run_baseline("pca-gan", data_home=tiny_home, out=tmp_path / "o", score=False, params=params)
    if not torch.cuda.is_available():
        with pytest.raises(FmriBenchError, match="no CUDA GPU"):
            run_baseline("srm-gan", data_home=tiny_home, out=tmp_path / "o", score=False, device="cuda")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("size", [64, 32, 16])
def test_fft_gabor_filtering_equals_reflect_padded_convolution(size: int) -> None:
    bank = gan._gabor_bank()
    grey = torch.rand(3, 1, size, size, generator=torch.Generator().manual_seed(size), requires_grad=True)
    ours = gan.gabor_responses(grey, bank)
    ref = torch.nn.functional.conv2d(torch.nn.functional.pad(grey, (bank.shape[-1] // 2,) * 4, mode="reflect"), bank)
    assert ours.shape == ref.shape == (3, 8, size, size)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    weights = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    (g_ours,) = torch.autograd.grad((ours * weights).sum(), grey)
    (g_ref,) = torch.autograd.grad((ref * weights).sum(), grey)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-4, rtol=1e-5)


def test_train_generator_grid_16_variant_is_recorded_and_loads(tmp_path: Path) -> None:
    import json

    from fmri_bench.pipeline import train_generator

    record = train_generator.main(["--out", str(tmp_path), "--steps", "2", "--grid", "16", "--heldout-size", "tiny"])
    assert record["model_config"]["grid"] == 16 and record["command"].endswith("--steps 2 --threads 1 --grid 16")
    assert json.loads((tmp_path / "record.json").read_text())["model_config"]["g_channels"] == [64, 32, 16]
    G, E, meta = vaegan.load_checkpoint(tmp_path / "vaegan.pt")
    z = torch.zeros(2, G.z_dim)
    with torch.no_grad():
        assert G.z_dim == 1024 and G(z).shape == (2, 3, 64, 64) and E(G(z))[0].shape == (2, 1024)
    assert meta["model_config"]["grid"] == 16 and vaegan.grid_config(8) == vaegan.ModelConfig()
    with pytest.raises(FmriBenchError, match="expected 8 or 16"):
        vaegan.grid_config(12)
    with pytest.raises(SystemExit):  # refused by the parser, before any training
        train_generator.main(["--out", str(tmp_path / "x"), "--grid", "12"])
    assert not (tmp_path / "x").exists()


def test_shipped_grid16_generator_loads_with_its_record() -> None:
    import json

    path = vaegan.shipped_checkpoint(0, grid=16)
    assert path is not None and path.stat().st_size < 500_000 and vaegan.shipped_checkpoint(1, grid=16) is None
    with pytest.raises(FmriBenchError, match="expected 8 or 16"):
        vaegan.shipped_checkpoint(0, grid=12)
    G, E, meta = vaegan.load_checkpoint(path)
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["checkpoint"] == {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    assert meta["command"] == record["command"] and record["command"].endswith("--steps 1000 --threads 1 --grid 16")
    assert G.grid == 16 and G.z_dim == 1024 and record["heldout_dataset_stimuli"]["test"]["ssim"] > 0.9
