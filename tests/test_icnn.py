"""The icnn baseline (Shen et al. 2019): feature decoding, feature-matching optimisation, safety."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators.feature_matching import (
    FeatureDecoder,
    Schedule,
    feature_sd,
    gaussian_blur,
    layer_weights,
    match_features,
    rescale_features,
)
from fmri_bench.stats import pearson_rows

SQUEEZE = "squeezenet1_0-imagenet-deepcompression.pth"
ICNN_TINY = {"n_iter": 15, "n_components": 20, "grid": 4}


def _images(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """Smooth random RGB images in [0, 1] (N, 3, size, size): blobs of colour, not noise."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0.1, 0.9, size=(n, 3, 4, 4)).astype(np.float32)
    return np.repeat(np.repeat(low, size // 4, axis=2), size // 4, axis=3)


class _LinearNet:
    """A stand-in FeatureNet: a fixed random conv (pre-ReLU, as the authors' layers) and a pooled deeper layer."""

    device = "cpu"

    def __init__(self) -> None:
        import torch

        gen = torch.Generator().manual_seed(0)
        self.w1 = torch.randn(12, 3, 3, 3, generator=gen) / 3
        self.w2 = torch.randn(16, 12, 3, 3, generator=gen) / 6

    def __call__(self, images):
        import torch.nn.functional as F

        a = F.conv2d(images, self.w1, padding=1)
        b = F.avg_pool2d(F.conv2d(F.relu(a), self.w2, padding=1), 2)
        return [a.flatten(1), b.flatten(1)]

    def extract(self, images: np.ndarray) -> list[np.ndarray]:
        import torch

        with torch.no_grad():
            return [f.numpy() for f in self(torch.from_numpy(images))]


def test_the_feature_decoder_recovers_features_that_are_linear_in_the_fmri() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(260, 40))
    features = [X @ rng.normal(size=(40, d)) + 0.5 * rng.normal(size=(260, d)) for d in (30, 700)]
    decoder = FeatureDecoder(n_components=40, max_cv_targets=100).fit(X[:200], [f[:200] for f in features])
    for predicted, true in zip(decoder.predict(X[200:]), features):
        assert predicted.shape == true[200:].shape
        assert pearson_rows(predicted.T, true[200:].T).mean() > 0.95  # every unit decoded
    # no signal: nothing decoded (the alpha chosen by leave-one-out shrinks it away)
    noise = FeatureDecoder(n_components=40).fit(X[:200], [rng.normal(size=(200, 30))])
    assert np.abs(noise.predict(X[200:])[0]).max() < 0.5


def test_the_decoder_predicts_as_scikit_learn_and_reads_back_what_it_saved(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 30)).astype(np.float32)
    features = [(X @ rng.normal(size=(30, d))).astype(np.float32) for d in (7, 50)]
    decoder = FeatureDecoder(n_components=12).fit(X[:100], [f[:100] for f in features])
    sklearn_path = [r.predict(decoder.embed_.transform(X[100:])) for r in decoder.ridges_]
    for ours, ref in zip(decoder.predict(X[100:]), sklearn_path):
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)
    decoder.save(tmp_path / "d.npz")
    loaded = FeatureDecoder.load(tmp_path / "d.npz")
    assert loaded.alphas_ == decoder.alphas_
    for a, b in zip(loaded.predict(X[100:]), decoder.predict(X[100:])):
        assert a.dtype == np.float32 and np.array_equal(a, b)


def test_the_decoder_cache_is_read_back_and_a_corrupt_file_is_fit_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from fmri_bench.estimators import feature_matching as fm

    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 20)).astype(np.float32)
    features = [(X @ rng.normal(size=(20, 9))).astype(np.float32)]
    first = fm.fit_decoder_cached(X, features, 10, 0, tmp_path)
    (cached,) = (tmp_path / "icnn-decoders").glob("*.npz")
    real_fit = fm.FeatureDecoder.fit

    def no_fit(self, *args):
        raise AssertionError("fit again although cached")

    monkeypatch.setattr(fm.FeatureDecoder, "fit", no_fit)
    again = fm.fit_decoder_cached(X, features, 10, 0, tmp_path)
    assert np.array_equal(again.predict(X)[0], first.predict(X)[0])
    with pytest.raises(AssertionError):  # other data or parameters: another key
        fm.fit_decoder_cached(X[:70], [f[:70] for f in features], 10, 0, tmp_path)
    with pytest.raises(AssertionError):
        fm.fit_decoder_cached(X, features, 11, 0, tmp_path)
    monkeypatch.setattr(fm.FeatureDecoder, "fit", real_fit)
    cached.write_bytes(cached.read_bytes()[:100])  # truncated
    with caplog.at_level("WARNING"):
        refit = fm.fit_decoder_cached(X, features, 10, 0, tmp_path)
    assert "unreadable" in caplog.text
    assert np.array_equal(refit.predict(X)[0], first.predict(X)[0])
    assert FeatureDecoder.load(cached).alphas_ == first.alphas_  # replaced by a whole file
    assert [p.name for p in (tmp_path / "icnn-decoders").iterdir()] == [cached.name]  # no debris


def test_the_authors_rescaling_and_layer_weights() -> None:
    rng = np.random.default_rng(1)
    conv = rng.normal(size=(5, 2 * 3 * 3)) * np.array([1.0, 3.0]).repeat(9)  # channel SDs 1 and 3
    sd = feature_sd(conv, (2, 3, 3))
    per_channel = conv.reshape(5, 2, 9).std(axis=2).mean(axis=1)
    assert np.allclose(sd, per_channel)  # SD per channel over positions, averaged over channels
    rescaled = rescale_features(conv, (2, 3, 3), 7.0)
    assert np.allclose(feature_sd(rescaled, (2, 3, 3)), 7.0, rtol=1e-5)
    vector = rng.normal(size=(5, 10))
    assert np.allclose(feature_sd(vector, (10,)), vector.std(axis=1))
    weights = layer_weights([np.full((2, 4), 1.0), np.full((2, 1), 2.0)])  # squared norms 4 and 4
    assert np.allclose(weights, 0.5)
    weights = layer_weights([np.full((1, 1), 1.0), np.full((1, 1), 2.0)])  # 1/1 and 1/4, normalised
    assert np.allclose(weights, [[0.8, 0.2]])


def test_the_blur_keeps_the_mean_and_smooths() -> None:
    import torch

    x = torch.zeros(1, 3, 15, 15)
    x[:, :, 7, 7] = 1.0
    blurred = gaussian_blur(x, 1.0)
    assert torch.allclose(blurred.sum(), x.sum(), rtol=1e-5)
    assert blurred[0, 0, 7, 7] < 0.2 and blurred[0, 0, 7, 8] > 0.05
    assert gaussian_blur(x, 0.0) is x


def test_the_optimiser_lowers_the_loss_and_inverts_true_features() -> None:
    from fmri_bench.estimators.torch_support import torch_threads

    net = _LinearNet()
    images = _images(6)
    targets = net.extract(images)
    mean = images.mean(axis=(0, 2, 3))
    with torch_threads("cpu"):
        out, loss = match_features(net, targets, layer_weights(targets), size=16, mean_rgb=mean,
                                   schedule=Schedule(n_iter=60, sigma=(0.5, 0.1)))  # fmt: skip
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert loss.shape == (61, 6)
    assert np.all(loss[-1] < 0.05 * loss[0])  # every image's feature-matching loss fell 20-fold
    r = pearson_rows(out.reshape(6, -1), images.reshape(6, -1))
    assert r.min() > 0.9  # the image whose features were given is recovered
    # the images are told apart: each reconstruction is nearest to its own stimulus
    distance = ((out[:, None] - images[None]) ** 2).sum(axis=(2, 3, 4))
    assert np.array_equal(distance.argmin(axis=1), np.arange(6))


def test_parameters_are_checked_before_any_work() -> None:
    from fmri_bench.pipeline.run import make_estimator

    for params, needle in (
        ({"n_iter": "0"}, "n_iter"),
        ({"network": "alexnet"}, "network"),
        ({"momentum": "1.5"}, "momentum"),
        ({"sigma_start": "-1"}, "sigma_start"),
        ({"grid": "0"}, "grid"),
    ):
        with pytest.raises(FmriBenchError, match=needle) as info:
            make_estimator("icnn", params, seed=0, device="cpu", memory=None)
        assert "\n" not in str(info.value)
    with pytest.raises(FmriBenchError, match="random_state"):
        make_estimator("icnn", None, seed=-1, device="cpu", memory=None)


def test_absent_weights_and_absent_cuda_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from fmri_bench.baselines.icnn import ICNN

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    X, images = np.zeros((4, 5)), np.zeros((4, 16, 16, 3), np.uint8)
    with pytest.raises(FmriBenchError, match="weights for squeezenet1_0 not found") as info:
        ICNN().fit(X, images)  # 16 px: the offline network
    assert "\n" not in str(info.value)
    with pytest.raises(FmriBenchError, match="weights for vgg19 not found"):
        ICNN().fit(X, np.zeros((4, 128, 128, 3), np.uint8))  # real-data sizes: the authors' VGG19
    if not torch.cuda.is_available():
        with pytest.raises(FmriBenchError, match="--device cuda was asked for but torch sees no CUDA GPU"):
            ICNN(device="cuda").fit(X, images)


@pytest.fixture
def squeezenet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_weights: Path) -> None:
    from fmri_bench.weights import import_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    import_weights("squeezenet1_0", shared_weights / SQUEEZE)


def test_squeezenet_features_of_a_stimulus_give_it_back(squeezenet: None) -> None:
    from fmri_bench.baselines.icnn import ICNN

    images = (_images(8, size=32, seed=2) * 255).astype(np.uint8).transpose(0, 2, 3, 1)
    model = ICNN(**ICNN_TINY).fit(np.random.default_rng(0).normal(size=(8, 30)), images)
    true = model.net_.extract(images.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    out, loss = model.reconstruct(true)
    assert np.all(loss[-1] < loss[0])
    from fmri_bench.stats import correlation_matrix

    r = correlation_matrix(out.reshape(8, -1), images.reshape(8, -1).astype(np.float32))
    assert np.median(np.diag(r)) > 0.3  # 15 iterations from the mean colour, 4 pooled layers
    assert np.array_equal(r.argmax(axis=1), np.arange(8))  # each is nearest its own stimulus


def test_icnn_runs_on_the_tiny_dataset_and_declares_its_network(
    squeezenet: None, tiny_home: Path, tmp_path: Path
) -> None:
    import torch

    from fmri_bench.leaderboard import Leaderboard
    from fmri_bench.leaderboard.markdown import render_results_markdown
    from fmri_bench.pipeline import run_baseline

    before = torch.random.get_rng_state()
    runs = [
        run_baseline(
            "icnn",
            subject="sub-01",
            data_home=tiny_home,
            out=tmp_path / f"o{i}",
            params=ICNN_TINY,
            leaderboard=tmp_path / "board" if i == 0 else None,
            score=i == 0,
        )[0]  # fmt: skip
        for i in range(2)
    ]
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's generator is untouched
    a, b = (np.load(r.submission_path) for r in runs)
    assert a.shape == (10, 64, 64, 3) and np.array_equal(a, b)  # same seed, same bytes
    assert json.loads(runs[0].sidecar_path.read_text())["networks"] == ["squeezenet1_0"]
    # pinned: computed once with this very call (tiny_home v1 sub-01, seed 0, ICNN_TINY: 15
    # iterations, the shared SqueezeNet file) after merging fc5b6a3 (prepare, recipe), alpha chosen on all units; pca-ridge's pins
    # in test_baselines.py are PixCorr 0.26, SSIM 0.82 on the same data
    assert runs[0].metrics["pixcorr"] == pytest.approx(0.139, abs=0.05)
    assert runs[0].metrics["ssim"] == pytest.approx(0.803, abs=0.03)
    markdown = render_results_markdown(Leaderboard(tmp_path / "board").rows())
    assert "icnn runs the network squeezenet1_0, which this table's" in markdown


def test_the_vgg19_layers_are_the_authors_every_conv_and_fc_before_relu() -> None:
    import torch

    from fmri_bench._torchvision import torchvision
    from fmri_bench.estimators.feature_matching import NETWORKS, _steps

    with torch.device("meta"):  # the architecture only: no weights, no memory
        steps = dict(_steps(torchvision.models.vgg19(weights=None)))
    layers = [steps[name] for name in NETWORKS["vgg19"].layers]
    assert [type(m).__name__ for m in layers] == ["Conv2d"] * 16 + ["Linear"] * 3
    assert sum(isinstance(m, torch.nn.Conv2d) for m in steps.values()) == 16  # all of them
    assert NETWORKS["vgg19"].input_size == 224


# --------------------------------------------------------------------------- icnn-dgn (the generator prior)
ICNN_DGN_TINY = ICNN_TINY


def test_the_latent_search_inverts_true_features_through_the_generator_within_its_bounds() -> None:
    import torch

    from fmri_bench.estimators import vaegan
    from fmri_bench.estimators.feature_matching import match_latents
    from fmri_bench.estimators.torch_support import torch_threads

    G, _, _ = vaegan.load_checkpoint(vaegan.SHIPPED)
    net = _LinearNet()
    z_true = np.random.default_rng(3).normal(size=(4, G.z_dim)).astype(np.float32)
    with torch.no_grad():
        images = ((G(torch.from_numpy(z_true)) + 1) / 2).numpy()
    small = torch.nn.functional.interpolate(torch.from_numpy(images), size=(16, 16), mode="bilinear", antialias=True)
    targets = net.extract(small.numpy())  # the features of G(z_true) seen at 16 px
    bound = np.full(G.z_dim, 1.5, np.float32)
    with torch_threads("cpu"):
        z, loss = match_latents(net, G, targets, layer_weights(targets), z_init=np.zeros(G.z_dim), size=16,
                                bounds=(-bound, bound), schedule=Schedule(n_iter=40, lr=(0.2, 1e-10),
                                                                          decay=(0.01, 0.01)))  # fmt: skip
    assert z.shape == (4, G.z_dim) and loss.shape == (41, 4)
    assert np.all(np.abs(z) <= 1.5 + 1e-6) and np.abs(z).max() == pytest.approx(1.5)  # clipped, and it bit
    assert np.all(loss[-1] < 0.25 * loss[0])  # every image's loss fell 4-fold
    out = vaegan.decode(G, z).astype(np.float32).transpose(0, 3, 1, 2) / 255  # the image is G(z)
    distance = ((out[:, None] - images[None]) ** 2).sum(axis=(2, 3, 4))
    assert np.array_equal(distance.argmin(axis=1), np.arange(4))  # each is nearest its own G(z_true)
    # unbounded: the loss goes lower still (the bounds are what kept it up)
    with torch_threads("cpu"):
        _, free = match_latents(net, G, targets, layer_weights(targets), z_init=np.zeros(G.z_dim), size=16,
                                bounds=None, schedule=Schedule(n_iter=40, lr=(0.2, 1e-10), decay=(0.01, 0.01)))  # fmt: skip
    assert free[-1].mean() < loss[-1].mean()


def test_icnn_dgn_parameters_are_checked_before_any_work(tmp_path: Path) -> None:
    from sklearn.base import clone

    from fmri_bench.baselines.icnn_dgn import ICNNDGN
    from fmri_bench.pipeline.run import make_estimator

    estimator = make_estimator("icnn-dgn", {"init": "mean"}, seed=3, device="cpu", memory=None)
    assert isinstance(estimator, ICNNDGN) and clone(estimator).get_params() == estimator.get_params()
    assert estimator.random_state == 3 and estimator.init == "mean" and estimator.decay_start == 0.01

    for params, needle in (
        ({"init": "random"}, "init"),
        ({"bound_sd": "-1"}, "bound_sd"),
        ({"n_iter": "0"}, "n_iter"),
        ({"generator": str(tmp_path / "absent.pt")}, "generator .*absent.pt: no such file"),
        ({"gan_images": str(tmp_path / "absent")}, "gan_images .*absent: not a folder"),
        ({"sigma_start": "1"}, "sigma_start"),  # no blur in the DGN variant: not a parameter
    ):
        with pytest.raises(FmriBenchError, match=needle) as info:
            make_estimator("icnn-dgn", params, seed=0, device="cpu", memory=None)
        assert "\n" not in str(info.value)


def test_icnn_dgn_submits_g_of_its_optimised_latents_and_declares_its_network(
    squeezenet: None, tiny_home: Path, tmp_path: Path
) -> None:
    from fmri_bench.baselines.icnn_dgn import ICNNDGN
    from fmri_bench.data import load
    from fmri_bench.estimators import vaegan
    from fmri_bench.pipeline import run_baseline

    run = run_baseline("icnn-dgn", subject="sub-01", data_home=tiny_home, out=tmp_path / "o", params=ICNN_DGN_TINY,
                       leaderboard=None, score=False, generator_seeds=[0])[0]  # fmt: skip
    submitted = np.load(run.submission_path)
    assert json.loads(run.sidecar_path.read_text())["networks"] == ["squeezenet1_0"]
    b = load("synthetic", "v1", "sub-01", data_home=tiny_home)
    model = ICNNDGN(**ICNN_DGN_TINY).fit(b.X_train, b.images_train[b.y_train])
    z, loss = model.reconstruct_latents(model.decode(b.X_test))
    low, high = model.z_bounds_
    assert np.all((z >= low) & (z <= high)) and np.all(z != 0)  # moved from the start 0, within the bounds
    assert np.all(loss[-1] < loss[0])
    expected = vaegan.decode(model.generator_, z)  # uint8 G(z) at 64 px: the data's side
    assert np.array_equal(model.predict(b.X_test), expected.astype(np.float32) / 255)  # the output is G(z)
    assert submitted.dtype == np.uint8 and np.array_equal(submitted, expected)  # same seed, same bytes


def test_icnn_dgn_with_another_generator_seed_is_a_fresh_fit_with_it(squeezenet: None, tiny_home: Path) -> None:
    from fmri_bench.baselines.icnn_dgn import ICNNDGN
    from fmri_bench.data import load

    b = load("synthetic", "v1", "sub-01", data_home=tiny_home)
    params = {**ICNN_DGN_TINY, "n_iter": 5}
    first = ICNNDGN(**params).fit(b.X_train, b.images_train[b.y_train])
    other = first.with_generator_seed(2)
    fresh = ICNNDGN(**params, generator_seed=2).fit(b.X_train, b.images_train[b.y_train])
    assert other.generator_seed == 2 and first.generator_seed == 0 and other.prior_origin_ == fresh.prior_origin_
    assert np.array_equal(other.predict(b.X_test), fresh.predict(b.X_test))
    assert not np.array_equal(other.predict(b.X_test), first.predict(b.X_test))
