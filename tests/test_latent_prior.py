"""The diffusion prior over the VAE-GAN's latents: schedule, sampler, training, files, shipped prior."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import latent_prior, vaegan
from fmri_bench.io import sha256_file
from fmri_bench.pipeline.train_latent_prior import flat_pixel_fraction, frechet_distance

TINY = latent_prior.TrainConfig(steps=4, batch=8, n_latents=250, warmup=2)
TINY_MODEL = latent_prior.PriorConfig(channels=16, timesteps=100)
SHIPPED = latent_prior.shipped_prior(0)


class _GaussianOracle(torch.nn.Module):
    """The exact v-predictor for standardised latents z0 ~ N(0, sigma^2 I).

    With z_t = sqrt(a) z0 + sqrt(1 - a) eps: E[z0 | z_t] = sqrt(a) sigma^2 z_t / s and
    E[eps | z_t] = sqrt(1 - a) z_t / s, s = a sigma^2 + 1 - a, so
    E[v | z_t] = sqrt(a (1 - a)) (1 - sigma^2) z_t / s.
    """

    def __init__(self, sigma: float, abar: torch.Tensor) -> None:
        super().__init__()
        self.sigma, self.abar = sigma, abar

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.abar[t].view(-1, 1, 1, 1)
        s = a * self.sigma**2 + 1 - a
        return (a * (1 - a)).sqrt() * (1 - self.sigma**2) * z / s


def test_cosine_schedule_runs_from_signal_to_noise() -> None:
    abar = latent_prior.alpha_bar(1000)
    assert abar.shape == (1000,) and abar[0] > 0.9999 and abar[-1] == pytest.approx(1e-5)
    assert bool((abar[1:] <= abar[:-1]).all())
    # Nichol & Dhariwal's f(t) = cos^2((t/T + s) / (1 + s) pi/2), normalised by f(0), at t = T/2
    f = lambda u: np.cos((u + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    assert float(abar[499]) == pytest.approx(f(0.5) / f(0.0), rel=1e-5)


@pytest.mark.parametrize("sigma,eta", [(0.5, 1.0), (1.5, 1.0), (0.5, 0.0), (1.5, 0.5)])
def test_sampler_draws_the_data_distribution_given_the_exact_denoiser(sigma: float, eta: float) -> None:
    # A wrong posterior mean or variance in the reverse step shows up as a wrong spread.
    cfg = latent_prior.PriorConfig(timesteps=1000)
    oracle = _GaussianOracle(sigma, latent_prior.alpha_bar(1000))
    mean, std = np.arange(8, dtype=np.float32), np.linspace(0.5, 2.0, 8, dtype=np.float32)
    prior = latent_prior.LatentPrior(oracle, mean, std, cfg)
    # all T steps: a strided chain is slightly under-dispersed (ratio 0.96 at 100 steps, 0.98 at 250)
    z = prior.sample(400, seed=3, sample_steps=1000, eta=eta, clip=50.0).reshape(400, 8, 8, 8)
    got_mean, got_std = z.mean((0, 2, 3)), z.std((0, 2, 3))
    np.testing.assert_allclose(got_mean, mean, atol=0.05 * sigma * std.max())
    np.testing.assert_allclose(got_std / std, sigma, rtol=0.02)
    again = prior.sample(400, seed=3, sample_steps=1000, eta=eta, clip=50.0)
    assert np.array_equal(again, z.reshape(400, -1))  # deterministic for a seed
    with pytest.raises(FmriBenchError, match="sample_steps"):
        prior.sample(2, sample_steps=0)
    with pytest.raises(FmriBenchError, match="eta"):
        prior.sample(2, eta=1.5)


@pytest.mark.parametrize("t_start,eta", [(150, 1.0), (600, 0.0), (999, 1.0)])
def test_regenerate_keeps_the_distribution_and_the_exact_correlation_with_its_input(t_start: int, eta: float) -> None:
    # With the exact denoiser, noising z0 ~ N(0, sigma^2) to step t and denoising back keeps
    # the distribution. Ancestral (eta=1) draws from p(z0 | z_t), correlated with the input by
    # rho = a sigma^2 / (a sigma^2 + 1 - a); the deterministic chain (eta=0) is a linear map
    # of z_t, correlated with the input as z_t is: sqrt(rho).
    sigma, cfg = 1.5, latent_prior.PriorConfig(timesteps=1000)
    abar = latent_prior.alpha_bar(1000)
    mean, std = np.arange(8, dtype=np.float32), np.linspace(0.5, 2.0, 8, dtype=np.float32)
    prior = latent_prior.LatentPrior(_GaussianOracle(sigma, abar), mean, std, cfg)
    rng = np.random.default_rng(5)
    z = (rng.normal(size=(200, 8, 8, 8)) * sigma * std[:, None, None] + mean[:, None, None]).astype(np.float32)
    out = prior.regenerate(z.reshape(200, -1), t_start, seed=2, sample_steps=t_start + 1, eta=eta, clip=50.0)
    out = out.reshape(200, 8, 8, 8)
    np.testing.assert_allclose(out.std((0, 2, 3)) / std, sigma, rtol=0.03)
    a = float(abar[t_start])
    rho = a * sigma**2 / (a * sigma**2 + 1 - a)
    expected = rho if eta == 1.0 else np.sqrt(rho)
    for c in range(8):
        r = np.corrcoef(z[:, c].ravel(), out[:, c].ravel())[0, 1]
        assert r == pytest.approx(expected, abs=0.03)
    again = prior.regenerate(z.reshape(200, -1), t_start, seed=2, sample_steps=t_start + 1, eta=eta, clip=50.0)
    assert np.array_equal(again, out.reshape(200, -1))


def test_regenerate_refuses_bad_arguments() -> None:
    prior = latent_prior.LatentPrior(_GaussianOracle(1.0, latent_prior.alpha_bar(100)), np.zeros(8), np.ones(8),
                                     latent_prior.PriorConfig(timesteps=100))  # fmt: skip
    z = np.zeros((2, 512), np.float32)
    for t_start, message in ((-1, "t_start=-1: expected 0 to 99"), (100, "t_start=100"), (10, "sample_steps=250")):
        with pytest.raises(FmriBenchError, match=message):
            prior.regenerate(z, t_start)
    with pytest.raises(FmriBenchError, match="eta"):
        prior.regenerate(z, 10, sample_steps=5, eta=-0.1)


def _latents(n: int = 250) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 512)).astype(np.float32) * 2 + 1


def _weights(prior: latent_prior.LatentPrior) -> bytes:
    return b"".join(t.numpy().tobytes() for t in prior.net.state_dict().values())


def test_training_is_deterministic_leaves_the_callers_rng_and_snapshots_equal_shorter_runs() -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    snaps: dict[int, bytes] = {}
    a, losses = latent_prior.train(
        _latents(), TINY, TINY_MODEL, on_snapshot=lambda k, p: snaps.setdefault(k, _weights(p)), snapshot_every=2
    )
    assert torch.equal(torch.random.get_rng_state(), before)
    b, _ = latent_prior.train(_latents(), TINY, TINY_MODEL)
    assert _weights(a) == _weights(b) and len(losses) == TINY.steps
    c, _ = latent_prior.train(_latents(), dataclasses.replace(TINY, seed=1), TINY_MODEL)
    assert _weights(c) != _weights(a)
    short, _ = latent_prior.train(_latents(), dataclasses.replace(TINY, steps=2), TINY_MODEL)
    assert list(snaps) == [2] and snaps[2] == _weights(short)  # constant rate: step k of a longer run = a k-step run
    np.testing.assert_allclose(a.mean.flatten().numpy(), 1.0, atol=0.1)  # the per-channel standardisation
    np.testing.assert_allclose(a.std.flatten().numpy(), 2.0, atol=0.1)


def test_training_continues_from_a_prior_with_its_weights_and_standardisation() -> None:
    start, _ = latent_prior.train(_latents(), TINY, TINY_MODEL)
    other = _latents() * 3 - 5  # new latents with other statistics
    frozen, _ = latent_prior.train(other, dataclasses.replace(TINY, lr=0.0), TINY_MODEL, init=start)
    assert _weights(frozen) == _weights(start)  # no step taken: the start's weights, moving average included
    assert torch.equal(frozen.mean, start.mean) and torch.equal(frozen.std, start.std)
    continued, _ = latent_prior.train(other, TINY, TINY_MODEL, init=start)
    fresh, _ = latent_prior.train(other, TINY, TINY_MODEL)
    assert _weights(continued) not in (_weights(start), _weights(fresh))
    with pytest.raises(FmriBenchError, match="init: a prior of"):
        latent_prior.train(other, TINY, dataclasses.replace(TINY_MODEL, channels=8), init=start)


def test_training_lowers_the_loss() -> None:
    # latents that are one number repeated: learnable structure (for N(0, I) data v = 0 is already optimal)
    shared = np.repeat(np.random.default_rng(1).normal(size=(250, 1)), 512, axis=1).astype(np.float32)
    cfg = latent_prior.TrainConfig(steps=150, batch=32, n_latents=250, warmup=10, lr=2e-3)
    _, losses = latent_prior.train(shared, cfg, TINY_MODEL)
    assert np.mean(losses[-20:]) < 0.7 * np.mean(losses[:20])


def test_prior_file_round_trip_and_corrupt_file(tmp_path) -> None:
    prior, _ = latent_prior.train(_latents(), TINY, TINY_MODEL)
    latent_prior.save_prior(tmp_path / "p.pt", prior, {"seed": 0})
    loaded, meta = latent_prior.load_prior(tmp_path / "p.pt")
    assert meta == {"seed": 0} and loaded.config == TINY_MODEL
    np.testing.assert_allclose(
        loaded.sample(4, seed=2, sample_steps=50), prior.sample(4, seed=2, sample_steps=50), atol=0.05
    )  # float16 weights
    (tmp_path / "cut.pt").write_bytes((tmp_path / "p.pt").read_bytes()[:1000])
    with pytest.raises(FmriBenchError, match="not a readable latent prior"):
        latent_prior.load_prior(tmp_path / "cut.pt")
    with pytest.raises(FmriBenchError, match="multiple of 250"):
        latent_prior.training_latents(None, 100, 0)


def test_a_16_x_16_latent_map_is_folded_to_8_x_8_and_round_trips(tmp_path) -> None:
    cfg = dataclasses.replace(TINY_MODEL, latent_shape=(4, 16, 16))
    net = latent_prior.Denoiser(16, (4, 16, 16))
    assert net.inp.in_channels == 16 and net.fold == 2  # 4 channels x (2 x 2) cells: the U-Net runs at 8 x 8
    z = torch.randn(2, 4, 16, 16)
    with torch.no_grad():
        v = net(z, torch.tensor([3, 50]))
        shifted = net(torch.roll(z, 1, dims=-1), torch.tensor([3, 50]))
    assert v.shape == z.shape and not torch.equal(v, shifted)
    latents = np.random.default_rng(0).normal(size=(250, 1024)).astype(np.float32)
    prior, _ = latent_prior.train(latents, TINY, cfg)
    latent_prior.save_prior(tmp_path / "p.pt", prior, {"seed": 0})
    loaded, _ = latent_prior.load_prior(tmp_path / "p.pt")
    assert loaded.config == cfg and loaded.mean.numel() == 4
    assert loaded.sample(3, seed=1, sample_steps=5).shape == (3, 1024)
    assert loaded.regenerate(latents[:2], t_start=10, sample_steps=5).shape == (2, 1024)
    G, _, _ = vaegan.build(vaegan.grid_config(16), 0)
    assert latent_prior.latent_shape_of(G) == (4, 16, 16)
    with pytest.raises(FmriBenchError, match="multiple of 8"):
        latent_prior.Denoiser(16, (4, 12, 12))


def test_flat_pixel_fraction() -> None:
    flat = np.full((1, 10, 10, 3), 100, np.uint8)
    ramp = np.broadcast_to((np.arange(10) * 5).astype(np.uint8)[None, None, :, None], (1, 10, 10, 3))
    assert flat_pixel_fraction(flat) == 1.0 and flat_pixel_fraction(ramp) == 0.0
    half = flat.copy()
    half[:, :, 5:] = 200  # one edge column of the 9 x 9 gradient grid
    assert flat_pixel_fraction(half) == pytest.approx(8 / 9)


def test_frechet_distance_of_gaussians() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # equal covariances: the squared distance of the means; scaled: sum (1 - s)^2 per dimension
    assert frechet_distance(a, a + [3.0, 0.0, 4.0]) == pytest.approx(25.0, rel=1e-6)
    assert frechet_distance(a, 2 * a) == pytest.approx(3.0, rel=0.05)


def test_stream_distance_standardises_on_the_reference_features() -> None:
    from fmri_bench.estimators.gan import image_features
    from fmri_bench.pipeline.train_latent_prior import stream_distance

    reference, other = vaegan.render_batch(0, 0, 40, tag=7), vaegan.render_batch(0, 1, 40, tag=7)
    ref, feats = (image_features(x).astype(np.float64) for x in (reference, other))
    mu, sd = ref.mean(0), ref.std(0) + 1e-6
    distance = stream_distance(reference)
    assert distance(other) == pytest.approx(frechet_distance((ref - mu) / sd, (feats - mu) / sd), rel=1e-9)
    assert distance(reference) == pytest.approx(0.0, abs=1e-3) and distance(other) > 1.0


def test_shipped_prior_loads_with_its_record_and_draws_closer_to_the_stimuli_than_n01() -> None:
    path = latent_prior.shipped_prior(0)
    if path is None:
        pytest.fail("the seed-0 latent prior is not shipped")
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["prior"]["sha256"] == sha256_file(path)
    assert record["generator_sha256"] == sha256_file(latent_prior.prior_generator(0))
    prior, meta = latent_prior.load_prior(path)
    assert "train_latent_prior" in meta["command"] and meta["generator_seed"] == 0
    # The fraction of flat pixels (grey-level gradient under 2 of 255): stimuli are flat
    # backgrounds with shapes (0.45 of pixels), G(z ~ N(0, I)) are textures (0.01); the
    # prior's samples must be far nearer the stimuli than N(0, I)'s.
    G, _, _ = vaegan.load_checkpoint(latent_prior.prior_generator(0))
    stream = flat_pixel_fraction(vaegan.render_batch(0, 0, 64, tag=latent_prior.PRIOR_TAG + 1))
    drawn = flat_pixel_fraction(vaegan.decode(G, prior.sample(64, seed=0, sample_steps=100)))
    normal = flat_pixel_fraction(
        vaegan.decode(G, torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(0)).numpy())
    )
    assert normal < 0.05 < 0.3 < stream
    assert abs(drawn - stream) < 0.5 * abs(normal - stream)


def test_training_command_writes_the_prior_its_record_pictures_and_snapshots(tmp_path) -> None:
    from fmri_bench.pipeline import train_latent_prior

    out = tmp_path / "run"
    args = ["--out", str(out), "--steps", "4", "--n-latents", "250", "--snapshot-every", "2"]
    record = train_latent_prior.main([*args, "--eval-images", "125", "--sample-steps", "5"])
    assert json.loads((out / "record.json").read_text()) == record
    assert record["prior"]["sha256"] == sha256_file(out / "prior.pt") and record["steps"] == 4
    grid = latent_prior.SHIPPED_GRID  # the default --grid: the shipped prior's generator
    grid_option = "" if grid == 8 else f" --grid {grid}"  # grid 8 (before the option) is not named
    assert record["command"].endswith(f"--steps 4 --n-latents 250 --threads 2{grid_option}")
    assert record["model_config"]["latent_shape"] == list(
        latent_prior.latent_shape_of(vaegan.Generator(vaegan.grid_config(grid)))
    )
    assert record["evaluation"] == {"images_per_set": 125, "sample_steps": 5}
    assert len(record["loss_per_100_steps"]) == 1 and np.load(out / "losses.npy").shape == (4,)
    sets = {"prior_eta1", "prior_eta0", "gaussian_fit", "normal", "reconstruction", "stream"}
    assert set(record["frechet_gabor_colour_distance_to_stream_images"]) == sets
    assert set(record["flat_pixel_fraction"]) == sets
    # a 4-step prior draws worse than the encoder's own reconstructions, better than N(0, I)
    # (its samples have the latents' per-channel mean and spread); with 125 images in 960
    # features the distances are mostly bias, so only these wide gaps are asserted
    fd = record["frechet_gabor_colour_distance_to_stream_images"]
    assert fd["reconstruction"] < fd["prior_eta1"] < fd["normal"]
    assert (out / "samples.png").stat().st_size > 0 and (out / "curves.png").stat().st_size > 0
    _, snap_meta = latent_prior.load_prior(out / "snapshots" / "step2.pt")
    assert snap_meta["steps"] == 2 and "--steps 2 " in snap_meta["command"]
    # --evaluate measures the same file again into another folder, with the same figures
    again = train_latent_prior.main(
        ["--out", str(tmp_path / "eval"), "--n-latents", "250", "--evaluate", str(out / "prior.pt"),
         "--eval-images", "125", "--sample-steps", "5"])  # fmt: skip
    assert again["frechet_gabor_colour_distance_to_stream_images"] == fd
    assert again["loss_per_100_steps"] == record["loss_per_100_steps"]
    # --init continues from a prior file, and the record says which
    cont = train_latent_prior.main(
        ["--out", str(tmp_path / "cont"), "--steps", "2", "--n-latents", "250", "--init", str(out / "prior.pt"),
         "--eval-images", "125", "--sample-steps", "5"])  # fmt: skip
    assert cont["init"] == {"file": "prior.pt", "sha256": record["prior"]["sha256"]}
    assert cont["command"].endswith(f"--init prior.pt{grid_option}") and "init" not in record


@pytest.mark.parametrize(
    "extra,message",
    [(["--eval-images", "100"], "--eval-images must be a positive multiple of 125"),
     (["--sample-steps", "0"], "--sample-steps must be 1 to 1000"),
     (["--evaluate", "absent.pt"], "--evaluate absent.pt: not a file"),
     (["--init", "absent.pt"], "--init: absent.pt: not a readable latent prior"),
     (["--init", str(SHIPPED), "--evaluate", str(SHIPPED)], "--init trains; --evaluate measures"),
     (["--init", str(SHIPPED), "--generator-seed", "1"], "a prior of generator seed 0, not --generator-seed 1")],
)  # fmt: skip
def test_training_command_refuses_bad_arguments_before_work(tmp_path, capsys, extra, message) -> None:
    from fmri_bench.pipeline import train_latent_prior

    with pytest.raises(SystemExit) as exit_info:
        train_latent_prior.main(["--out", str(tmp_path / "run"), *extra])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def _oracle_prior(sigma: float) -> latent_prior.LatentPrior:
    cfg = latent_prior.PriorConfig(timesteps=1000)
    return latent_prior.LatentPrior(_GaussianOracle(sigma, latent_prior.alpha_bar(1000)), np.zeros(8), np.ones(8), cfg)


def test_autoguidance_extrapolates_the_main_denoiser_away_from_the_guide() -> None:
    main, guide = _oracle_prior(1.0), _oracle_prior(1.5)
    z, t = torch.randn(3, 8, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([10, 500, 990])
    guided = latent_prior.autoguided(main, guide, 2.5)
    expected = guide.net(z, t) + 2.5 * (main.net(z, t) - guide.net(z, t))
    torch.testing.assert_close(guided.net(z, t), expected)
    assert latent_prior.autoguided(main, guide, 1.0).net is main.net  # w = 1: the main prior alone
    # a guide equal to the main prior changes nothing, whatever the weight
    same = latent_prior.autoguided(main, _oracle_prior(1.0), 3.0).sample(50, seed=1, sample_steps=50, clip=50.0)
    np.testing.assert_allclose(same, main.sample(50, seed=1, sample_steps=50, clip=50.0), atol=1e-5)
    # A guide whose errors spread the data wider pulls the guided samples tighter than the main's
    spread = lambda p: float(p.sample(200, seed=2, sample_steps=200, clip=50.0).std())  # noqa: E731
    assert spread(guided) < 0.9 * spread(main)


def test_autoguidance_refuses_a_weight_under_one_and_a_foreign_guide() -> None:
    main = _oracle_prior(1.0)
    for weight in (0.5, float("nan"), float("inf")):
        with pytest.raises(FmriBenchError, match="guidance weight"):
            latent_prior.autoguided(main, main, weight)
    other = latent_prior.LatentPrior(main.net, np.zeros(8), np.ones(8), latent_prior.PriorConfig(timesteps=100))
    with pytest.raises(FmriBenchError, match="guide: a prior of"):
        latent_prior.autoguided(main, other, 2.0)
    shifted = latent_prior.LatentPrior(main.net, np.ones(8), np.ones(8), main.config)
    with pytest.raises(FmriBenchError, match="standardisation"):
        latent_prior.autoguided(main, shifted, 2.0)


def test_two_sample_accuracy_is_chance_for_one_distribution_and_one_for_two() -> None:
    from fmri_bench.pipeline.train_latent_prior import two_sample_accuracy

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 20)), rng.normal(size=(300, 20))
    assert abs(two_sample_accuracy(a, b) - 0.5) < 0.07
    b[:, 3] += 2.0  # one direction of difference among 20: the Bayes accuracy is Phi(1) = 0.84
    assert 0.75 < two_sample_accuracy(a, b) < 0.9


def test_squeezenet_two_sample_accuracy_tells_textures_from_stimuli(tmp_path, monkeypatch, shared_weights) -> None:
    from fmri_bench.pipeline.train_latent_prior import squeezenet_features, two_sample_accuracy
    from fmri_bench.weights import import_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    import_weights("squeezenet1_0", shared_weights / "squeezenet1_0-imagenet-deepcompression.pth")
    G, _, _ = vaegan.load_checkpoint(latent_prior.prior_generator(0))
    one, two = (vaegan.render_batch(0, b, 60, tag=11) for b in (0, 1))
    textures = vaegan.decode(G, torch.randn(60, G.z_dim, generator=torch.Generator().manual_seed(0)).numpy())
    (q_one, pooled), (q_two, _), (q_tex, _) = (squeezenet_features(x) for x in (one, two, textures))
    assert q_one.shape == (60, 2048) and pooled.shape == (60, 512) and np.isfinite(q_one).all()
    assert two_sample_accuracy(q_one, q_tex) > 0.95
    assert two_sample_accuracy(q_one, q_two) < 0.7


def test_shipped_guide_is_the_shipped_run_at_step_8000_and_spreads_the_samples_towards_the_data() -> None:
    guide_path = latent_prior.shipped_prior(0, guide=True)
    if guide_path is None:
        pytest.fail("the seed-0 guide prior is not shipped")
    record = json.loads(guide_path.with_suffix(".json").read_text())
    shipped = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert record["prior"]["sha256"] == sha256_file(guide_path)
    assert record["command"] == shipped["command"].replace("--steps 24000", "--steps 8000")
    # a constant rate after the warm-up: the 8,000-step run retraced the shipped run's first 8,000 steps
    assert record["loss_per_100_steps"] == shipped["loss_per_100_steps"][:80]
    main, _ = latent_prior.load_prior(SHIPPED)
    guide, _ = latent_prior.load_prior(guide_path)
    channels = main.config.latent_shape[0]
    mean, std = main.mean.numpy().reshape(1, channels, 1), main.std.numpy().reshape(1, channels, 1)

    def spread(weight: float) -> float:
        z = latent_prior.autoguided(main, guide, weight).sample(64, seed=0, sample_steps=100)
        return float(((z.reshape(64, channels, -1) - mean) / std).std())

    # the prior alone under-disperses (0.71 of the data's 0.99 here); guided, it spreads (0.86)
    assert spread(1.0) < 0.8 and spread(latent_prior.SHIPPED_GUIDANCE) > spread(1.0) + 0.1
