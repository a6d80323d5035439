"""A diffusion prior over the VAE-GAN's latents: samples G(z) with z from it look like the stimuli.

Why: the VAE-GAN (:mod:`fmri_bench.estimators.vaegan`) is close to an autoencoder (small
KL weight), so its N(0, I) prior is far from where the encoder puts the stimuli and
G(z ~ N(0, I)) are textures. Fitting the latents' own distribution after training is
the cure of Ghosh et al. 2020 ("From variational to deterministic autoencoders",
ex-post density estimation); a Gaussian or a 10-50 component GMM fitted to 4,000
encoder latents gave coloured blobs (measured, not shipped), so the density here is a
denoising diffusion model in the latent space, as in latent diffusion (Rombach et al.
2022) on the generator's latent map (a grid-8 generator's (8, 8, 8) map as it is, a grid-16
one's (4, 16, 16) folded to (16, 8, 8)).

Model and objective (Ho et al. 2020 with the choices of later work):

- data: posterior means E(x) of ``n_latents`` images of the simulator's image family,
  from their own numpy stream ``[PRIOR_TAG, seed, batch]`` (disjoint from the dataset's
  stimuli, so never a test image), standardised per latent channel;
- cosine noise schedule over ``T`` steps (Nichol & Dhariwal 2021);
- v-prediction, ``v = sqrt(abar) eps - sqrt(1 - abar) z0`` (Salimans & Ho 2022), with
  the min-SNR-5 loss weight ``min(SNR, 5) / (SNR + 1)`` (Hang et al. 2023): with
  eps-prediction and a uniform weight, 12,000 steps gave samples with twice the data's
  standard deviation (saturated colours), because the terminal steps divide the
  predicted noise's error by ``sqrt(abar) ~ 0.003``;
- a two-level convolutional U-Net at 8 x 8 and 4 x 4 (:class:`Denoiser`, 0.76 M parameters);
- AdamW at a constant rate after a warm-up, so the weights after ``k`` steps of a
  longer run equal those of a run of ``k`` steps; the exponential moving average of the
  weights is what is kept.

Sampling runs a strided DDIM chain of ``sample_steps`` steps (``eta=1``: ancestral, from
the DDPM posterior q(z_s | z_t, z0); ``eta=0``: deterministic), the predicted z0 clipped
to ``clip`` standard deviations.
Deterministic for a seed on the CPU (explicit generators; the caller's RNG is untouched).

The shipped prior alone draws blobs for objects and under-disperses; guided by its own
8,000-step state (:func:`autoguided`, :func:`shipped_prior` with ``guide=True``, weight
:data:`SHIPPED_GUIDANCE`) its samples come close to the generator's reconstructions of
stimuli (``bench/latent_prior_autoguidance.py``).
"""

from __future__ import annotations

import copy
import dataclasses
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import vaegan

#: Bumped whenever a change to this file changes a trained prior's bytes.
CODE_VERSION = "latent-prior-1"
PRIOR_TAG = 0x5641_4C50  # "VALP": a stream of its own, disjoint from the generator's and the dataset's
#: The priors shipped with the package, keyed by the generator seed they model.
SHIPPED_SEEDS = (0,)
#: The architecture of the generators the shipped priors model (``vaegan.grid_config``).
SHIPPED_GRID = 8
#: The latent map of the grid-8 VAE-GAN (``PriorConfig.latent_shape``'s default).
LATENT_SHAPE = (8, 8, 8)
#: The autoguidance weight for the shipped prior and guide: the best of 1, 1.5, 2, 2.5 in
#: ``bench/latent_prior_autoguidance.py`` (baselines/README.md).
SHIPPED_GUIDANCE = 2.0


def prior_generator(generator_seed: int) -> Path | None:
    """The shipped VAE-GAN checkpoint whose latents the shipped prior of that seed models.

    Parameters
    ----------
    generator_seed : int
        Its training seed.

    Returns
    -------
    Path or None
        The checkpoint of architecture :data:`SHIPPED_GRID`, None when none is shipped.
    """
    return vaegan.shipped_checkpoint(generator_seed, SHIPPED_GRID)


def shipped_prior(generator_seed: int, guide: bool = False) -> Path | None:
    """The prior shipped for a shipped generator seed, or None when none is shipped for it.

    Parameters
    ----------
    generator_seed : int
        The VAE-GAN checkpoint's training seed.
    guide : bool
        The weaker prior shipped to guide it (:func:`autoguided`) instead.

    Returns
    -------
    Path or None
    """
    suffix = "-guide" if guide else ""
    path = vaegan.SHIPPED_DIR / f"latent-prior-seed{int(generator_seed)}{suffix}.pt"
    return path if int(generator_seed) in SHIPPED_SEEDS and path.is_file() else None


@dataclass(frozen=True)
class PriorConfig:
    """Architecture and noise schedule.

    Parameters
    ----------
    channels : int
        Width of the U-Net.
    timesteps : int
        Diffusion steps T of the schedule.
    latent_shape : tuple of int
        (channels, side, side) of the generator's latent map (:func:`latent_shape_of`);
        a side above 8 is folded into channels (space-to-depth) so the U-Net runs at 8 x 8.
    """

    channels: int = 64
    timesteps: int = 1000
    latent_shape: tuple[int, int, int] = LATENT_SHAPE


def latent_shape_of(G: vaegan.Generator) -> tuple[int, int, int]:
    """The (channels, side, side) latent map of a VAE-GAN generator.

    Parameters
    ----------
    G : Generator

    Returns
    -------
    tuple of int
    """
    return (G.z_dim // G.grid**2, G.grid, G.grid)


@dataclass(frozen=True)
class TrainConfig:
    """Training of the prior.

    Parameters
    ----------
    seed : int
        Seeds the image stream, the initial weights and the minibatches.
    steps : int
        Optimiser steps.
    n_latents : int
        Stream images encoded once into the training set (a multiple of 250).
    batch : int
        Latents per step.
    lr : float
        AdamW rate after ``warmup`` linear steps, constant after.
    ema : float
        Decay of the weights' moving average.
    min_snr : float
        gamma of the min-SNR loss weight.
    """

    seed: int = 0
    steps: int = 24000
    n_latents: int = 50000
    batch: int = 256
    lr: float = 3e-4
    warmup: int = 500
    ema: float = 0.9995
    min_snr: float = 5.0


def alpha_bar(timesteps: int) -> torch.Tensor:
    """The cosine schedule's cumulative signal fraction abar_t, t = 0 .. T-1 (Nichol & Dhariwal 2021, eq. 17).

    Parameters
    ----------
    timesteps : int
        T.

    Returns
    -------
    Tensor, float32, shape (T,)
        Decreasing from ~1 to 1e-5 (clipped, as their beta_t <= 0.999 does).
    """
    s = 0.008
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return (f / f[0])[1:].clamp(1e-5, 1.0).float()


def _time_embedding(t: torch.Tensor, dim: int = 128) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = t[:, None].float() * freqs[None]
    return torch.cat([a.sin(), a.cos()], 1)


class _Residual(nn.Module):
    def __init__(self, c: int, t_dim: int = 256) -> None:
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(8, c), nn.Conv2d(c, c, 3, padding=1)
        self.t = nn.Linear(t_dim, c)
        self.n2, self.c2 = nn.GroupNorm(8, c), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor, te: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x))) + self.t(te)[:, :, None, None]
        return x + self.c2(F.silu(self.n2(h)))


class Denoiser(nn.Module):
    """A two-level U-Net on the latent map, folded to 8 x 8, that predicts v from (z_t, t).

    Parameters
    ----------
    channels : int
        Width at both levels (8 x 8 and 4 x 4).
    latent_shape : tuple of int
        (channels, side, side) of the latent map; a side of 8 * p is folded into p * p times
        the channels (``pixel_unshuffle``, lossless), so a 16 x 16 map costs what an 8 x 8 one does.
    """

    def __init__(self, channels: int = 64, latent_shape: tuple[int, int, int] = LATENT_SHAPE) -> None:
        super().__init__()
        if latent_shape[1] != latent_shape[2] or latent_shape[1] % 8:
            raise FmriBenchError(f"latent map {latent_shape}: expected a square side that is a multiple of 8")
        self.fold = latent_shape[1] // 8
        c, zc = channels, latent_shape[0] * self.fold**2
        self.time = nn.Sequential(nn.Linear(128, 256), nn.SiLU(), nn.Linear(256, 256))
        self.inp = nn.Conv2d(zc, c, 3, padding=1)
        self.down_blocks = nn.ModuleList([_Residual(c), _Residual(c)])
        self.down = nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.mid_blocks = nn.ModuleList([_Residual(c), _Residual(c)])
        self.up = nn.ConvTranspose2d(c, c, 4, 2, 1)
        self.up_blocks = nn.ModuleList([_Residual(c), _Residual(c)])
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, zc, 3, padding=1))

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted v for noisy standardised latents at integer diffusion steps.

        Parameters
        ----------
        z : Tensor, shape (N, *latent_shape)
        t : Tensor, int64, shape (N,)

        Returns
        -------
        Tensor, shape (N, *latent_shape)
        """
        te = self.time(_time_embedding(t))
        h = self.inp(self.fold_in(z))
        for block in self.down_blocks:
            h = block(h, te)
        m = self.down(h)
        for block in self.mid_blocks:
            m = block(m, te)
        h = h + self.up(m)
        for block in self.up_blocks:
            h = block(h, te)
        return self.fold_out(self.out(h))

    def fold_in(self, z: torch.Tensor) -> torch.Tensor:
        """The latent map folded to 8 x 8 (space-to-depth); unchanged when it is 8 x 8.

        Parameters
        ----------
        z : Tensor, shape (N, C, 8p, 8p)

        Returns
        -------
        Tensor, shape (N, C p^2, 8, 8)
        """
        return F.pixel_unshuffle(z, self.fold) if self.fold > 1 else z

    def fold_out(self, h: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`fold_in`.

        Parameters
        ----------
        h : Tensor, shape (N, C p^2, 8, 8)

        Returns
        -------
        Tensor, shape (N, C, 8p, 8p)
        """
        return F.pixel_shuffle(h, self.fold) if self.fold > 1 else h


class LatentPrior:
    """A trained prior: the denoiser, the latents' per-channel standardisation and the schedule.

    Parameters
    ----------
    net : nn.Module
        The (moving-average) denoiser.
    mean, std : ndarray, shape (latent channels,)
        Per-channel mean and standard deviation of the training latents.
    config : PriorConfig
        Its architecture and schedule.
    """

    def __init__(self, net: nn.Module, mean: np.ndarray, std: np.ndarray, config: PriorConfig) -> None:
        self.net, self.config = net.eval(), config
        self.mean = torch.as_tensor(np.asarray(mean, np.float32)).view(1, -1, 1, 1)
        self.std = torch.as_tensor(np.asarray(std, np.float32)).view(1, -1, 1, 1)
        self.abar = alpha_bar(config.timesteps)

    def _check(self, sample_steps: int, eta: float) -> None:
        if not 1 <= sample_steps <= self.config.timesteps:
            raise FmriBenchError(f"sample_steps={sample_steps}: expected 1 to {self.config.timesteps}")
        if not 0.0 <= eta <= 1.0:
            raise FmriBenchError(f"eta={eta}: expected 0 to 1")

    def _reverse(self, z: torch.Tensor, t_start: int, sample_steps: int, eta: float, clip: float, g) -> np.ndarray:
        """Run the strided reverse chain from ``z`` (standardised, at step ``t_start``) to z0."""
        n = len(z)
        grid = torch.linspace(t_start, 0, sample_steps).round().long().unique_consecutive()
        for i, t in enumerate(grid):
            a = self.abar[t]
            v = self.net(z, t.repeat(n))
            z0 = (a.sqrt() * z - (1 - a).sqrt() * v).clamp(-clip, clip)
            if i + 1 == len(grid):
                z = z0
                break
            a_prev = self.abar[grid[i + 1]]
            eps = (z - a.sqrt() * z0) / (1 - a).sqrt()  # the noise consistent with the clipped z0
            sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).sqrt()
            z = a_prev.sqrt() * z0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
            if eta > 0:
                z = z + sigma * torch.randn(z.shape, generator=g)
        return (z * self.std + self.mean).reshape(n, -1).numpy()

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, sample_steps: int = 250, eta: float = 1.0, clip: float = 4.0) -> np.ndarray:
        """Draw latents with the DDIM family of reverse chains (Song et al. 2021, eq. 12).

        ``z_s = sqrt(abar_s) z0 + sqrt(1 - abar_s - sigma^2) eps + sigma * noise`` with
        ``sigma = eta * sqrt((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s))``: ``eta=1``
        is ancestral sampling from the DDPM posterior q(z_s | z_t, z0), ``eta=0`` the
        deterministic DDIM chain.

        Parameters
        ----------
        n : int
            Number of latents.
        seed : int
            Seeds the initial noise and every step's noise.
        sample_steps : int
            Steps of the strided reverse chain (at most T). Fewer steps under-disperse a
            little: with the exact denoiser of Gaussian latents and ``eta=1`` the spread
            comes out 0.96 of the true one at 100 steps, 0.98 at 250, 0.995 at 1000
            (tests/test_latent_prior.py).
        eta : float
            0 to 1 (see above).
        clip : float
            The predicted z0 is clipped to +-``clip`` standard deviations of the data.

        Returns
        -------
        ndarray, float32, shape (n, z_dim)
            Latents for :func:`fmri_bench.estimators.vaegan.decode`.
        """
        self._check(sample_steps, eta)
        g = torch.Generator().manual_seed(int(seed))
        z = torch.randn((n, *self.config.latent_shape), generator=g)
        return self._reverse(z, self.config.timesteps - 1, sample_steps, eta, clip, g)

    @torch.no_grad()
    def regenerate(
        self,
        latents: np.ndarray,
        t_start: int,
        seed: int = 0,
        sample_steps: int = 250,
        eta: float = 1.0,
        clip: float = 4.0,
    ) -> np.ndarray:
        """Noise latents to step ``t_start`` and run the reverse chain back (SDEdit, Meng et al. 2022).

        ``z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps``, then the chain of :meth:`sample`
        from ``t_start``: small ``t_start`` keeps the latents' content and replaces their
        fine detail with the prior's, ``t_start = T - 1`` forgets them (a fresh sample).
        Which noise levels the prior gets right shows in
        ``bench/latent_prior_noise_levels.py``.

        Parameters
        ----------
        latents : ndarray, shape (N, z_dim)
        t_start : int
            0 to T - 1.
        seed : int
            Seeds the added noise and every step's noise.
        sample_steps : int
            Steps of the chain from ``t_start`` (at most ``t_start + 1``).
        eta, clip : float
            As in :meth:`sample`.

        Returns
        -------
        ndarray, float32, shape (N, z_dim)
        """
        if not 0 <= t_start < self.config.timesteps:
            raise FmriBenchError(f"t_start={t_start}: expected 0 to {self.config.timesteps - 1}")
        if not 1 <= sample_steps <= t_start + 1:
            raise FmriBenchError(f"sample_steps={sample_steps}: expected 1 to t_start + 1 = {t_start + 1}")
        self._check(sample_steps, eta)
        z = (
            torch.as_tensor(np.asarray(latents, np.float32)).reshape(-1, *self.config.latent_shape) - self.mean
        ) / self.std
        g = torch.Generator().manual_seed(int(seed))
        a = self.abar[t_start]
        z = a.sqrt() * z + (1 - a).sqrt() * torch.randn(z.shape, generator=g)
        return self._reverse(z, t_start, sample_steps, eta, clip, g)


class _AutoGuided(nn.Module):
    """``v = v_guide + w (v_main - v_guide)``: the main denoiser extrapolated away from a weaker one."""

    def __init__(self, main: nn.Module, guide: nn.Module, weight: float) -> None:
        super().__init__()
        self.main, self.guide, self.weight = main, guide, float(weight)

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        v_main = self.main(z, t)
        return torch.lerp(self.guide(z, t), v_main, self.weight)


def autoguided(main: LatentPrior, guide: LatentPrior, weight: float) -> LatentPrior:
    """A prior whose denoiser is ``main``'s guided by a weaker version of itself (autoguidance).

    Karras et al. 2024 ("Guiding a diffusion model with a bad version of itself", NeurIPS):
    ``D_w = w D_main + (1 - w) D_guide`` with ``w > 1``, the form of classifier-free guidance
    with the guide being the same model trained less (and/or smaller) instead of an
    unconditional one. Where the two disagree, the guide's error is larger in the same
    direction, so extrapolating away from it moves samples towards the data; it needs no
    condition, and they report that it keeps the variation classifier-free guidance loses. The predicted ``z0 = sqrt(abar) z_t - sqrt(1 - abar) v`` is
    affine in ``v``, so guiding ``v`` is guiding the denoised latent. Measured on the
    shipped priors in ``bench/latent_prior_autoguidance.py``.

    Parameters
    ----------
    main : LatentPrior
        The better prior.
    guide : LatentPrior
        A weaker prior of the same architecture, schedule and latent standardisation.
    weight : float
        ``w >= 1``; 1 is ``main`` alone (the guide is not evaluated).

    Returns
    -------
    LatentPrior
        Samples and regenerates as any prior (twice the denoiser evaluations).
    """
    if not (math.isfinite(weight) and weight >= 1.0):
        raise FmriBenchError(f"guidance weight {weight}: expected a number >= 1")
    if guide.config != main.config:
        raise FmriBenchError(f"guide: a prior of {guide.config}, expected {main.config}")
    if not (torch.equal(guide.mean, main.mean) and torch.equal(guide.std, main.std)):
        raise FmriBenchError(
            "guide: its latent standardisation differs from the main prior's (trained on other latents)"
        )
    net = main.net if weight == 1.0 else _AutoGuided(main.net, guide.net, weight)
    return LatentPrior(net, main.mean.flatten().numpy(), main.std.flatten().numpy(), main.config)


def training_latents(E: vaegan.Encoder, n: int, seed: int, threads: int = 1) -> np.ndarray:
    """Encoder means of ``n`` stream images of the prior's own stream.

    Parameters
    ----------
    E : Encoder
        The VAE-GAN's encoder.
    n : int
        Images (a multiple of 250).
    seed : int
        The stream's seed.
    threads : int
        Rendering threads (the result does not depend on it).

    Returns
    -------
    ndarray, float32, shape (n, z_dim)
    """
    from concurrent.futures import ThreadPoolExecutor

    if n < 250 or n % 250:
        raise FmriBenchError(f"n_latents={n}: expected a positive multiple of 250")
    with ThreadPoolExecutor(max(1, threads)) as pool:
        batches = pool.map(lambda b: vaegan.render_batch(seed, b, 250, tag=PRIOR_TAG), range(n // 250))
        images = np.concatenate(list(batches))
    return vaegan.encode(E, images)


def _starting_point(
    x: torch.Tensor, seed: int, model_cfg: PriorConfig, init: LatentPrior | None
) -> tuple[Denoiser, torch.Tensor, torch.Tensor]:
    """The network and standardisation a run starts from: seeded fresh weights and the data's statistics, or ``init``'s."""
    if init is None:
        mean, std = x.mean((0, 2, 3)), x.std((0, 2, 3))
    else:
        if init.config != model_cfg:
            raise FmriBenchError(f"init: a prior of {init.config}, expected {model_cfg}")
        mean, std = init.mean.flatten(), init.std.flatten()
    with torch.random.fork_rng(devices=[]):  # the layers' default initialisation, seeded
        torch.manual_seed(seed)
        net = Denoiser(model_cfg.channels, model_cfg.latent_shape)
    if init is not None:
        net.load_state_dict(init.net.state_dict())
    return net, mean, std


def train(
    latents: np.ndarray,
    cfg: TrainConfig,
    model_cfg: PriorConfig = PriorConfig(),
    progress: Callable[[], None] | None = None,
    on_snapshot: Callable[[int, LatentPrior], None] | None = None,
    snapshot_every: int = 0,
    init: LatentPrior | None = None,
) -> tuple[LatentPrior, list[float]]:
    """Fit the diffusion prior to latents.

    Parameters
    ----------
    latents : ndarray, shape (N, z_dim)
        Training latents (:func:`training_latents`).
    cfg : TrainConfig
        Training settings.
    model_cfg : PriorConfig
        Architecture and schedule.
    progress : callable, optional
        Called after every step.
    on_snapshot : callable, optional
        ``on_snapshot(step, prior)`` every ``snapshot_every`` steps with the moving-average weights.
    snapshot_every : int
        0 for none.
    init : LatentPrior, optional
        Continue training this prior: its (moving-average) weights start the network and the
        moving average, and its standardisation is kept, so the denoiser keeps meaning the
        same thing; the optimiser starts afresh (with its warm-up).

    Returns
    -------
    prior : LatentPrior
        The moving-average denoiser, in eval mode.
    losses : list of float
        The weighted loss of every step.
    """
    x = torch.as_tensor(np.asarray(latents, np.float32)).reshape(-1, *model_cfg.latent_shape)
    net, mean, std = _starting_point(x, cfg.seed, model_cfg, init)
    x = (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    g = torch.Generator().manual_seed(cfg.seed)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.0)
    abar = alpha_bar(model_cfg.timesteps)
    losses: list[float] = []
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup))
        z0 = x[torch.randint(0, len(x), (cfg.batch,), generator=g)]
        t = torch.randint(0, model_cfg.timesteps, (cfg.batch,), generator=g)
        eps = torch.randn(z0.shape, generator=g)
        a = abar[t].view(-1, 1, 1, 1)
        zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
        v = a.sqrt() * eps - (1 - a).sqrt() * z0
        snr = abar[t] / (1 - abar[t])
        weight = snr.clamp(max=cfg.min_snr) / (snr + 1)
        loss = (weight * ((net(zt, t) - v) ** 2).mean((1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1.0 - cfg.ema)
        losses.append(loss.item())
        if progress is not None:
            progress()
        if on_snapshot is not None and snapshot_every and (step + 1) % snapshot_every == 0 and step + 1 < cfg.steps:
            on_snapshot(step + 1, LatentPrior(copy.deepcopy(ema).eval(), mean.numpy(), std.numpy(), model_cfg))
    return LatentPrior(ema.eval(), mean.numpy(), std.numpy(), model_cfg), losses


def save_prior(path: str | Path, prior: LatentPrior, meta: dict) -> None:
    """Write a prior (float16 weights) with its standardisation, config and metadata.

    Parameters
    ----------
    path : path-like
        The file (write it through :func:`fmri_bench.io.atomic_path`).
    prior : LatentPrior
        The prior.
    meta : dict
        Provenance: command, seeds, the generator checkpoint's sha256, versions.
    """
    state = {
        "format": CODE_VERSION,
        "model_config": dataclasses.asdict(prior.config),
        "mean": prior.mean.flatten().clone(),
        "std": prior.std.flatten().clone(),
        "denoiser": {k: v.detach().cpu().half().contiguous().clone() for k, v in prior.net.state_dict().items()},
        "meta": meta,
    }
    buffer = io.BytesIO()  # see vaegan.save_checkpoint: same bytes whatever the file's name
    torch.save(state, buffer)
    Path(path).write_bytes(buffer.getvalue())


def load_prior(path: str | Path) -> tuple[LatentPrior, dict]:
    """Read a prior of :func:`save_prior`; any unreadable file is one clear FmriBenchError.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    prior : LatentPrior
        float32 weights, CPU, eval mode.
    meta : dict
        The metadata saved with it.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != CODE_VERSION:
            raise ValueError(f"format {state.get('format')!r}, expected {CODE_VERSION!r}")
        cfg = PriorConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["model_config"].items()})
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG alone
            net = Denoiser(cfg.channels, cfg.latent_shape)
        net.load_state_dict({k: v.float() for k, v in state["denoiser"].items()})
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise FmriBenchError(f"{path}: not a readable latent prior ({type(exc).__name__}: {exc})") from exc
    net.requires_grad_(False)
    return LatentPrior(net, state["mean"].numpy(), state["std"].numpy(), cfg), dict(state["meta"])
