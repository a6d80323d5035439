"""encoding-gan: the voxel-wise encoding model, its pattern correlation, and the inversion through the prior."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import encoding_model as em
from fmri_bench.estimators import vaegan
from fmri_bench.pipeline import run_baseline

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
#: Small enough for a test on the tiny dataset.
SMALL = {"library_size": "40", "search_steps": "4", "n_voxels": "60", "n_components": "20"}


def test_pattern_correlation_is_pearson_and_the_matrix_agrees() -> None:
    rng = np.random.default_rng(0)
    p, m = rng.normal(size=(5, 30)), rng.normal(size=(5, 30))
    ones = torch.ones(30)
    r = em.pattern_correlation(torch.as_tensor(p), torch.as_tensor(m), ones.double()).numpy()
    assert np.allclose(r, [np.corrcoef(a, b)[0, 1] for a, b in zip(p, m)])
    w = torch.as_tensor(rng.uniform(0.1, 2, 30))
    full = em.correlation_matrix(torch.as_tensor(p), torch.as_tensor(m), w).numpy()
    assert np.allclose(np.diag(full), em.pattern_correlation(torch.as_tensor(p), torch.as_tensor(m), w).numpy())
    assert not np.allclose(full, em.correlation_matrix(torch.as_tensor(p), torch.as_tensor(m), ones.double()).numpy())


def test_encoder_keeps_the_voxels_images_predict_and_identifies_new_images() -> None:
    images = np.concatenate([vaegan.render_batch(7, k, 50) for k in range(3)])
    feats = em.encoding_features(images)
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    rng = np.random.default_rng(1)
    signal = feats @ rng.normal(size=(feats.shape[1], 40)) / np.sqrt(feats.shape[1])
    responses = np.c_[signal + 0.5 * rng.normal(size=signal.shape), rng.normal(size=(150, 40))]  # 40 real, 40 noise
    train, test = slice(0, 120), slice(120, 150)
    enc = em.fit_voxel_encoder(images[train], responses[train], n_voxels=40, chunk=30)  # chunks split the voxels
    assert (enc.voxels < 40).mean() > 0.9 and enc.r2.min() > 0.1
    with torch.no_grad():
        pred = enc.module()(vaegan.to_tensor(images[test]))
    corr = em.correlation_matrix(
        pred, torch.as_tensor(enc.standardize(responses[test])), torch.as_tensor(enc.weights())
    )
    assert (corr.argmax(1).numpy() == np.arange(30)).mean() > 0.8  # chance 1/30


def test_encoding_gan_runs_is_deterministic_and_uses_the_brain(tiny_home: Path, tmp_path: Path) -> None:
    from fmri_bench.baselines.encoding_gan import EncodingGAN, lowpass
    from fmri_bench.data import load

    first = run_baseline("encoding-gan", data_home=tiny_home, out=tmp_path / "a", score=False, params=SMALL)[0]
    assert first.generator_seeds == [0, 1, 2]  # generator-based: one run per shipped generator seed
    again = run_baseline(
        "encoding-gan", data_home=tiny_home, out=tmp_path / "b", score=False, params=SMALL, generator_seeds=[0]
    )[0]
    assert first.submission_path.read_bytes() == again.submission_path.read_bytes()
    b = load("synthetic", "v1", "sub-01", data_home=tiny_home)
    params = {k: int(v) for k, v in SMALL.items()}
    model = EncodingGAN(**{**params, "search_steps": 0, "pixel_weight": 0.0}).fit(b.X_train, b.images_train[b.y_train])
    start = model.predict(b.X_test)
    # with the pattern term alone the library image chosen for a response fits it better than the others do
    measured = torch.as_tensor(model.encoder_.standardize(b.X_test))
    w = torch.as_tensor(model.encoder_.weights())
    corr = em.correlation_matrix(torch.as_tensor(model.library_patterns_), measured, w).numpy()
    chosen = corr[np.arange(len(corr)), model.library_choice_]
    assert (chosen >= corr.max(1) - 1e-6).all() and chosen.mean() > corr.mean() + 0.1
    # the search raises the objective's pattern term from its start
    searched = EncodingGAN(**{**params, "search_steps": 15, "pixel_weight": 0.0, "lowpass_weight": 0.0, "prior": 0.0})
    after = searched.fit(b.X_train, b.images_train[b.y_train]).predict(b.X_test)
    module = model.encoder_.module()

    def fit(images: np.ndarray) -> float:
        with torch.no_grad():
            x = vaegan.to_tensor(np.round(images * 255).astype(np.uint8))
            return float(em.pattern_correlation(module(x), measured, w).mean())

    assert fit(after) > fit(start) + 0.02
    assert lowpass(torch.zeros(2, 3, 64, 64), 3.0).shape == (2, 768)


@pytest.mark.parametrize("sigma", [3.0, 0.5, 0.0])
def test_lowpass_is_the_blur_then_the_4_pixel_means(sigma: float) -> None:
    from fmri_bench.baselines.encoding_gan import lowpass
    from fmri_bench.estimators.feature_matching import gaussian_blur

    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    ref = torch.nn.functional.avg_pool2d(gaussian_blur(x, sigma), 4).flatten(1)
    torch.testing.assert_close(lowpass(x, sigma), ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_voxels": "0"}, "n_voxels"),
        ({"library_size": "-1"}, "library_size"),
        ({"lowpass_sigma": "-2"}, "sigma"),
        ({"structure_weight": "1.5"}, "structure_weight"),
    ],
)
def test_bad_encoding_gan_parameters_are_refused_before_any_work(
    tiny_home: Path, tmp_path: Path, params: dict, message: str
) -> None:
    with pytest.raises(FmriBenchError, match=message):
        run_baseline("encoding-gan", data_home=tiny_home, out=tmp_path / "o", score=False, params=params)
    assert not (tmp_path / "o").exists()


def test_encoding_gan_with_another_generator_seed_is_a_fresh_fit_with_it(tiny_home: Path) -> None:
    from fmri_bench.baselines.encoding_gan import EncodingGAN
    from fmri_bench.data import load

    b = load("synthetic", "v1", "sub-01", data_home=tiny_home)
    params = {k: int(v) for k, v in SMALL.items()}
    first = EncodingGAN(**params).fit(b.X_train, b.images_train[b.y_train])
    other = first.with_generator_seed(1)
    fresh = EncodingGAN(**params, generator_seed=1).fit(b.X_train, b.images_train[b.y_train])
    assert other.generator_seed == 1 and first.generator_seed == 0
    assert np.array_equal(other.predict(b.X_test), fresh.predict(b.X_test))
    assert not np.array_equal(other.predict(b.X_test), first.predict(b.X_test))


def test_structure_weight_averages_the_drawing_with_pca_gans_direct_decode(tiny_home: Path) -> None:
    from fmri_bench.baselines.encoding_gan import EncodingGAN
    from fmri_bench.baselines.pca_gan import PCAGAN
    from fmri_bench.data import load

    b = load("synthetic", "v1", "sub-01", data_home=tiny_home)
    params = {k: int(v) for k, v in SMALL.items()}
    model = EncodingGAN(**params, structure_weight=1.0).fit(b.X_train, b.images_train[b.y_train])
    drawn = model.predict(b.X_test)
    smooth = model.set_params(structure_weight=0.0).predict(b.X_test)
    mixed = model.set_params(structure_weight=0.25).predict(b.X_test)
    # the smooth part is pca-gan's direct decode: same PCA embedding, same ridge to the same latents
    decode = PCAGAN(n_components=params["n_components"], inversion="decode").fit(b.X_train, b.images_train[b.y_train])
    np.testing.assert_allclose(smooth, decode.predict(b.X_test), atol=2e-3)
    assert np.abs(drawn - smooth).mean() > 0.02  # the drawing is not the direct decode
    np.testing.assert_allclose(mixed, 0.25 * drawn + 0.75 * smooth, atol=1e-6)


def test_latent_codes_are_the_latents_that_predict_draws(tiny_home: Path) -> None:
    from fmri_bench.baselines.encoding_gan import EncodingGAN
    from fmri_bench.data import load
    from fmri_bench.estimators.gan import render
    from fmri_bench.estimators.torch_support import torch_threads

    b = load("synthetic", "v1", "sub-01", data_home=tiny_home)
    params = {k: int(v) for k, v in SMALL.items()}
    model = EncodingGAN(**params, structure_weight=1.0).fit(b.X_train, b.images_train[b.y_train])
    searched, direct = model.latent_codes(b.X_test)
    assert searched.shape == direct.shape == (len(b.X_test), vaegan.ModelConfig.z_dim)
    # the search moved away from its library start, and the direct decode is the ridge's times the gain
    assert not np.allclose(searched, model.library_latents_[model.library_choice_])
    ridge = model.direct_decoder_.predict(model._embedding(b.X_test)) * model.latent_gain
    np.testing.assert_allclose(direct, ridge, rtol=1e-5, atol=1e-5)
    with torch_threads("cpu"):
        drawn = render(model.generator_, searched, b.images_test.shape[1])
    assert np.array_equal(model.predict(b.X_test), drawn)
