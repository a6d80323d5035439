"""A VAE-GAN image prior for the 64 px stimuli: model, image stream, training, checkpoints.

Model (a VAE-GAN in the sense of Larsen et al. 2016, "Autoencoding beyond pixels using a
learned similarity metric"): a variational autoencoder with a diagonal Gaussian posterior
q(z | x) and an N(0, I) prior, whose decoder ``G`` is also trained against a spectrally
normalized PatchGAN discriminator ``D`` (hinge loss) on its reconstructions and on prior
samples. Per batch of images x (values in [-1, 1]):

    L(E, G) = L1(G(z), x) + grad_weight * L1(grad G(z), grad x) + kl_weight * KL(q(z|x) || N(0, I))
              + mm_weight * (moments of z vs N(0, I)) + adv_weight * lambda * [-D(G(z)), -D(G(z_p))]
    L(D)    = hinge(D(x), +1) + hinge(D([G(z), G(z_p)]), -1)

with ``z ~ q(z|x)``, ``z_p ~ N(0, I)``, the adversarial term on from ``adv_start`` and
``lambda`` the adaptive weight of Esser et al. 2021 (VQGAN: the ratio of the gradient
norms of the reconstruction and adversarial losses at G's last layer). Exponential
moving averages of E and G are what is kept.

``z`` is a spatial map flattened (:class:`ModelConfig`, :func:`grid_config`): a spatial
latent reconstructs the stimuli's shapes sharply, which a 256-d vector latent did not
reach in the same CPU time (held-out PixCorr 0.83 after 2500 steps). Two architectures:

- ``grid=8``, an (8, 8, 8) map of 512 numbers: the baselines' generators (seeds 0, 1, 2,
  4000 steps; held-out PixCorr 0.95). Its 8 px cells turn small shapes with corners into
  blobs (a shape probe's presence AUC 0.75), but brain-decoded latents render better
  through it than through the finer map (baselines/README.md);
- ``grid=16``, a (4, 16, 16) map of 1024 numbers (4 px cells): keeps the shapes (AUC
  0.85, PixCorr 0.96 after 1000 steps) with a cheaper G (0.8x the time per forward and
  backward pass); shipped for seed 0, for a latent diffusion prior over its latents
  (:mod:`~fmri_bench.estimators.latent_prior`, ``train_latent_prior --grid 16``).

The price of the small KL weight: the model is close to an autoencoder, so N(0, I)
samples are textures, not stimuli (the diffusion prior models the latents instead); the
inversion starts from the encoder's latents.

Images come from an unlimited stream of the simulator's own image family
(:func:`render_batch`), from numpy streams keyed ``[STREAM_TAG, seed, batch]``, disjoint
from the dataset's (``[dataset seed, 1]`` and ``[dataset seed, 2, category, image]``): the
dataset's stimuli, test images included, are never trained on. Everything is
deterministic for a seed on the CPU (explicit generators; the caller's RNG is untouched).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fmri_bench.errors import FmriBenchError
from fmri_bench.raw.simulate import stimuli as _stimuli

#: Bumped whenever a change to this file changes a trained model's bytes (it is in every cache key).
CODE_VERSION = "vaegan-3"
IMAGE_SIZE = 64
RENDER_SIZE = 128
STREAM_TAG = 0x5641_4547  # "VAEG": no dataset seed is this large, so the streams never meet
VALID_TAG = 0x5641_4C44  # a second disjoint stream: validation images of the learning curves
#: The checkpoints shipped with the package, one per training seed (each trained by
#: ``python -m fmri_bench.pipeline.train_generator --seed N``, 4000 steps; record beside it).
SHIPPED_SEEDS = (0, 1, 2)
#: The grid-16 checkpoints shipped (``--seed N --steps 1000 --grid 16``).
SHIPPED_GRID16_SEEDS = (0,)
SHIPPED_DIR = Path(__file__).resolve().parent / "generators"
#: The seed-0 checkpoint, the default image prior.
SHIPPED = SHIPPED_DIR / "vaegan-stimuli64-seed0.pt"


def shipped_checkpoint(seed: int, grid: int = 8) -> Path | None:
    """The checkpoint shipped for a training seed, or None when none is shipped for it.

    Parameters
    ----------
    seed : int
        The generator's training seed.
    grid : {8, 16}
        The architecture (:func:`grid_config`): 8 for the baselines' generators, 16 for
        the finer one.

    Returns
    -------
    Path or None
    """
    if grid == 16:
        path, seeds = SHIPPED_DIR / f"vaegan-stimuli64-grid16-seed{int(seed)}.pt", SHIPPED_GRID16_SEEDS
    elif grid == 8:
        path, seeds = SHIPPED_DIR / f"vaegan-stimuli64-seed{int(seed)}.pt", SHIPPED_SEEDS
    else:
        raise FmriBenchError(f"grid {grid!r} is not available; expected 8 or 16")
    return path if int(seed) in seeds and path.is_file() else None


# --------------------------------------------------------------------------- image stream
def _lanczos(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if img.shape[0] == size:
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)


def render_batch(seed: int, index: int, n: int, tag: int = STREAM_TAG, size: int = IMAGE_SIZE) -> np.ndarray:
    """``n`` new images of the simulator's image family, each of a new random category style.

    Rendered at 128 px and Lanczos-resized, as ``prepare`` makes the stimuli.

    Parameters
    ----------
    seed : int
        The stream's seed.
    index : int
        The batch number (the batch depends only on ``tag``, ``seed`` and ``index``).
    n : int
        Images in the batch.
    tag : int
        The stream family (:data:`STREAM_TAG` for training, :data:`VALID_TAG` for validation).
    size : int
        Output side in pixels.

    Returns
    -------
    ndarray, uint8, shape (n, size, size, 3)
    """
    return render_batch_with_shapes(seed, index, n, tag, size)[0]


def render_batch_with_shapes(
    seed: int, index: int, n: int, tag: int = STREAM_TAG, size: int = IMAGE_SIZE
) -> tuple[np.ndarray, list[list[dict]]]:
    """:func:`render_batch` and, per image, the shapes drawn on it (the same images).

    Parameters
    ----------
    seed, index, n, tag, size
        As in :func:`render_batch`.

    Returns
    -------
    images : ndarray, uint8, shape (n, size, size, 3)
    shapes : list of list of dict
        Per image, one ``{"kind", "cx", "cy", "r"}`` per shape in drawing order, in pixels
        of ``size``.
    """
    rng = np.random.default_rng([int(tag), int(seed), int(index)])
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    shapes: list[list[dict]] = []
    scale = size / RENDER_SIZE
    for i in range(n):
        style = _stimuli._category_style(rng)
        drawn: list[dict] = []
        out[i] = _lanczos(_stimuli._render_image(rng, style, RENDER_SIZE, drawn), size)
        # Pixel centres: index i of the render spans [i, i + 1), so a centre maps as (c + 0.5) s - 0.5.
        shapes.append([{**d, "cx": (d["cx"] + 0.5) * scale - 0.5, "cy": (d["cy"] + 0.5) * scale - 0.5,
                        "r": d["r"] * scale} for d in drawn])  # fmt: skip
    return out, shapes


def folder_batches(images: np.ndarray, seed: int) -> Callable[[int, int], np.ndarray]:
    """A batch source drawing (with replacement) from a fixed image set, e.g. ``--gan-images``.

    Parameters
    ----------
    images : ndarray, uint8, shape (n, 64, 64, 3)
        The image set.
    seed : int
        Seed of the draws (batch ``k`` depends only on ``seed`` and ``k``).

    Returns
    -------
    callable
        ``batches(k, n) -> uint8 (n, 64, 64, 3)``.
    """
    images = np.ascontiguousarray(images)

    def batches(k: int, n: int) -> np.ndarray:
        rng = np.random.default_rng([STREAM_TAG, int(seed), int(k)])
        return images[rng.integers(0, len(images), n)]

    return batches


@contextlib.contextmanager
def _prefetched(source: Callable[[int, int], np.ndarray], n: int, ahead: int = 2) -> Iterator[Callable[[], np.ndarray]]:
    """Batches source(0, n), source(1, n), ... rendered ahead in one thread (same bytes as in order)."""
    pool = ThreadPoolExecutor(max_workers=1)
    queue: list = []
    counter = iter(range(10**12))

    def take() -> np.ndarray:
        while len(queue) < ahead:
            queue.append(pool.submit(source, next(counter), n))
        return queue.pop(0).result()

    try:
        yield take
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1].

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, 3)

    Returns
    -------
    Tensor, float32, shape (N, 3, H, W)
    """
    x = torch.from_numpy(np.ascontiguousarray(np.asarray(images).transpose(0, 3, 1, 2))).float()
    return x.div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3).

    Parameters
    ----------
    x : Tensor, shape (N, 3, H, W)

    Returns
    -------
    ndarray, uint8, shape (N, H, W, 3)
    """
    return x.detach().cpu().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()


# --------------------------------------------------------------------------- networks
@dataclass(frozen=True)
class ModelConfig:
    """Architecture (every field is in the checkpoint and the cache key)."""

    z_dim: int = 512
    grid: int = 8  # z is a (z_dim // grid^2, grid, grid) map, read and written by 3x3 convs
    g_channels: tuple[int, ...] = (128, 64, 32, 16)  # at 8, 16, 32, 64 px
    g_extra: tuple[int, ...] = (8, 16, 32)  # resolutions with an extra 3x3 conv
    e_channels: tuple[int, ...] = (32, 64, 128)  # at 32, 16, 8 px
    d_channels: tuple[int, ...] = (32, 64, 128)


def grid_config(grid: int) -> ModelConfig:
    """The architecture with a ``grid`` x ``grid`` latent map.

    ``grid=8`` is the default, an (8, 8, 8) map (the baselines' generators); ``grid=16`` a
    (4, 16, 16) map with 4 px cells and G and E one resolution shorter, which keeps the
    small shapes that the 8 px cells blur into blobs (baselines/README.md, "the
    generator's shape ceiling").

    Parameters
    ----------
    grid : {8, 16}
        Side of the latent map.

    Returns
    -------
    ModelConfig
    """
    if grid == 8:
        return ModelConfig()
    if grid == 16:
        return ModelConfig(z_dim=1024, grid=16, g_channels=(64, 32, 16), g_extra=(16, 32), e_channels=(32, 64))
    raise FmriBenchError(f"grid {grid!r} is not available; expected 8 or 16")


class Generator(nn.Module):
    """G: z (z_dim) -> (3, 64, 64) in [-1, 1]; no normalization layers (G(z) never depends on the batch).

    Parameters
    ----------
    cfg : ModelConfig
        The architecture.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        ch, self.z_dim, self.grid = cfg.g_channels, cfg.z_dim, cfg.grid
        if cfg.grid * 2 ** (len(ch) - 1) != IMAGE_SIZE or cfg.z_dim % cfg.grid**2:
            raise FmriBenchError(f"g_channels {ch} from a {cfg.grid} px grid of z_dim {cfg.z_dim} do not make 64 px")
        self.fc = nn.Conv2d(cfg.z_dim // cfg.grid**2, ch[0], 3, 1, 1)
        layers: list[nn.Module] = [nn.LeakyReLU(0.2)]
        res = cfg.grid
        for c_in, c_out in zip(ch, ch[1:]):
            res *= 2
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2)]
            if res in cfg.g_extra:
                layers += [nn.Conv2d(c_out, c_out, 3, 1, 1), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(ch[-1], 3, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Render latents.

        Parameters
        ----------
        z : Tensor, float32, shape (N, z_dim)

        Returns
        -------
        Tensor, float32, shape (N, 3, 64, 64), in [-1, 1]
        """
        return self.net(self.fc(z.reshape(-1, self.z_dim // self.grid**2, self.grid, self.grid)))


class Encoder(nn.Module):
    """E: (3, 64, 64) -> (mu, logvar) of q(z | x), each (N, z_dim): strided 4x4 convs to the grid.

    Parameters
    ----------
    cfg : ModelConfig
        The architecture.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in cfg.e_channels:
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in = c_out
        if IMAGE_SIZE // 2 ** len(cfg.e_channels) != cfg.grid:
            raise FmriBenchError(f"e_channels {cfg.e_channels} do not end at the {cfg.grid} px grid")
        self.features = nn.Sequential(*layers)
        self.z_dim, self.grid = cfg.z_dim, cfg.grid
        self.head = nn.Conv2d(c_in, 2 * cfg.z_dim // cfg.grid**2, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters of images.

        Parameters
        ----------
        x : Tensor, float32, shape (N, 3, 64, 64), in [-1, 1]

        Returns
        -------
        mu, logvar : Tensor, float32, shape (N, z_dim)
        """
        h = self.head(self.features(x))
        c = self.z_dim // self.grid**2
        return h[:, :c].flatten(1), h[:, c:].flatten(1).clamp(-12.0, 4.0)


class PatchDiscriminator(nn.Module):
    """Spectrally normalized PatchGAN: (3, 64, 64) -> (1, 8, 8) logits (about 34 px receptive field).

    Parameters
    ----------
    cfg : ModelConfig
        The architecture.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in cfg.d_channels:
            layers += [sn(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.net = nn.Sequential(*layers, sn(nn.Conv2d(c_in, 1, 3, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch logits.

        Parameters
        ----------
        x : Tensor, float32, shape (N, 3, 64, 64)

        Returns
        -------
        Tensor, float32, shape (N, 1, 8, 8)
        """
        return self.net(x)


def _init_weights(module: nn.Module) -> None:
    """He initialization for LeakyReLU(0.2) with each layer's true fan-in.

    PyTorch's default shrinks the signal about 2x per layer here: G's output started at
    std 0.007 and the VAE learned only mean colours for hundreds of steps.
    """
    gain = math.sqrt(2.0 / (1 + 0.2**2))
    for m in module.modules():
        if isinstance(m, nn.ConvTranspose2d):  # a (4, stride 2) transposed conv sums in_channels * 4 taps
            fan_in = m.in_channels * (m.kernel_size[0] // m.stride[0]) * (m.kernel_size[1] // m.stride[1])
        elif isinstance(m, nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        else:
            continue
        with torch.no_grad():
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            w.normal_(0.0, gain / math.sqrt(fan_in))
            m.bias.zero_()


def build(cfg: ModelConfig, seed: int) -> tuple[Generator, Encoder, PatchDiscriminator]:
    """The three networks, initialized from ``seed`` without touching the caller's RNG.

    Parameters
    ----------
    cfg : ModelConfig
        The architecture.
    seed : int
        Initialization seed.

    Returns
    -------
    G, E, D : Generator, Encoder, PatchDiscriminator
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, E, D = Generator(cfg), Encoder(cfg), PatchDiscriminator(cfg)
        for m in (G, E, D):
            _init_weights(m)
        with torch.no_grad():
            G.net[-2].weight.mul_(0.5)  # the RGB layer, before tanh
            E.head.weight.mul_(0.5)
            E.head.bias[cfg.z_dim // cfg.grid**2 :].fill_(-6.0)  # posterior sigma 0.05 at first: an AE
    return G, E, D


# --------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainConfig:
    """Training schedule and loss weights (every field is recorded and in the cache key)."""

    seed: int = 0
    steps: int = 4000
    batch_size: int = 32
    prior_batch: int = 16  # prior samples per step for the adversarial loss
    lr: float = 5e-4
    lr_d: float = 2e-4
    lr_decay_from: float = 0.6  # linear decay to lr_floor * lr over the last 40% of the steps
    lr_floor: float = 0.05
    kl_weight: float = 2e-6  # on the KL summed over latent dimensions (nats), per image
    kl_warmup: int = 500
    mm_weight: float = 0.01  # batch mean 0 / variance 1 of z per dimension (InfoVAE-style)
    grad_weight: float = 0.5
    adv_weight: float = 0.1  # times the adaptive weight lambda, capped at adv_max
    adv_max: float = 1.0
    adv_start: int = 600
    ema: float = 0.999
    eval_every: int = 250


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    start = cfg.lr_decay_from * cfg.steps
    if step < start:
        return 1.0
    return 1.0 - (1.0 - cfg.lr_floor) * (step - start) / max(1.0, cfg.steps - start)


def _grad_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between the x and y finite differences of two image batches (an edge-sharpness term)."""
    dxa, dxb = a[..., :, 1:] - a[..., :, :-1], b[..., :, 1:] - b[..., :, :-1]
    dya, dyb = a[..., 1:, :] - a[..., :-1, :], b[..., 1:, :] - b[..., :-1, :]
    return (dxa - dxb).abs().mean() + (dya - dyb).abs().mean()


@dataclass
class _State:
    G: Generator
    E: Encoder
    D: PatchDiscriminator
    G_ema: Generator
    E_ema: Encoder
    opt: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gen: torch.Generator


HISTORY_KEYS = ("rec_l1", "grad_l1", "kl", "mm", "adv_g", "d_loss", "adv_lambda")


def _adversarial(s: _State, cfg: TrainConfig, x: torch.Tensor, rec: torch.Tensor, rec_loss: torch.Tensor) -> tuple:
    """One hinge step of D, then G's adversarial loss and its adaptive weight."""
    z_p = torch.randn(cfg.prior_batch, s.G.z_dim, generator=s.gen).to(x.device)
    fake = torch.cat([rec, s.G(z_p)])
    for p in s.D.parameters():
        p.requires_grad_(True)
    d_loss = F.relu(1.0 - s.D(x)).mean() + F.relu(1.0 + s.D(fake.detach())).mean()
    s.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    s.opt_d.step()
    for p in s.D.parameters():
        p.requires_grad_(False)
    adv_g = -s.D(fake).mean()
    last = s.G.net[-2].weight
    g_rec = torch.autograd.grad(rec_loss, last, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adv_g, last, retain_graph=True)[0]
    lam = (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0.0, cfg.adv_max).detach()
    return adv_g, d_loss, lam


def _train_step(s: _State, cfg: TrainConfig, step: int, batch: np.ndarray) -> tuple[float, ...]:
    """One optimization step of E and G (and D once the adversarial term is on); the losses."""
    for opt, lr in ((s.opt, cfg.lr), (s.opt_d, cfg.lr_d)):
        for group in opt.param_groups:
            group["lr"] = lr * _lr_factor(step, cfg)
    x = to_tensor(batch).to(next(s.G.parameters()).device)
    if torch.rand((), generator=s.gen) < 0.5:  # the image family is flip-symmetric
        x = x.flip(-1)
    mu, logvar = s.E(x)
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=s.gen).to(x.device)
    rec = s.G(z)
    rec_l1, grad_l1 = (rec - x).abs().mean(), _grad_l1(rec, x)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()
    # The KL at this weight moves the latents' scale toward 1 far too slowly (the decoder absorbs any
    # scale): matching the batch moments keeps the brain-decoded latents where G was trained.
    mm = z.mean(0).pow(2).mean() + (z.var(0) - 1.0).pow(2).mean()
    rec_loss = rec_l1 + cfg.grad_weight * grad_l1
    loss = rec_loss + cfg.kl_weight * min(1.0, (step + 1) / max(1, cfg.kl_warmup)) * kl + cfg.mm_weight * mm
    adv_g = d_loss = lam = torch.zeros(())
    if cfg.adv_weight > 0 and step >= cfg.adv_start:
        adv_g, d_loss, lam = _adversarial(s, cfg, x, rec, rec_loss)
        loss = loss + cfg.adv_weight * lam * adv_g
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    s.opt.step()
    decay = min(cfg.ema, (1.0 + step) / (10.0 + step))  # EMA warm-up
    with torch.no_grad():
        for ema, model in ((s.G_ema, s.G), (s.E_ema, s.E)):
            for pt, ps in zip(ema.parameters(), model.parameters()):
                pt.lerp_(ps, 1.0 - decay)
    return tuple(float(v.detach()) for v in (rec_l1, grad_l1, kl, mm, adv_g, d_loss, lam))


def _new_state(model_cfg: ModelConfig, cfg: TrainConfig, device: str) -> _State:
    G, E, D = build(model_cfg, cfg.seed)
    G, E, D = G.to(device), E.to(device), D.to(device)
    G_ema, E_ema = copy.deepcopy(G).eval(), copy.deepcopy(E).eval()
    for p in (*G_ema.parameters(), *E_ema.parameters(), *D.parameters()):
        p.requires_grad_(False)
    opt = torch.optim.Adam([*G.parameters(), *E.parameters()], lr=cfg.lr, betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(0.5, 0.99))
    return _State(G, E, D, G_ema, E_ema, opt, opt_d, torch.Generator().manual_seed(cfg.seed))


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    *,
    source: Callable[[int, int], np.ndarray] | None = None,
    device: str = "cpu",
    on_eval: Callable[[int, Generator, Encoder], dict] | None = None,
    progress: Callable[[], None] | None = None,
) -> tuple[Generator, Encoder, dict[str, list]]:
    """Train the VAE-GAN; return the EMA generator and encoder and the learning curves.

    Parameters
    ----------
    model_cfg : ModelConfig
        The architecture.
    cfg : TrainConfig
        The schedule and weights; ``cfg.seed`` seeds initialization, batches and noise.
    source : callable, optional
        ``source(k, n)``: batch ``k`` of ``n`` uint8 64 px images (default: the simulator's
        image stream :func:`render_batch` with ``cfg.seed``; :func:`folder_batches` for a folder).
    device : {"cpu", "cuda"}
        Where torch runs (the random draws are made on the CPU either way).
    on_eval : callable, optional
        ``on_eval(step, G_ema, E_ema) -> dict`` every ``cfg.eval_every`` steps and at the
        end; what it returns goes into ``history["eval"]``.
    progress : callable, optional
        Called after every step.

    Returns
    -------
    G, E : Generator, Encoder
        The EMA networks, on the CPU, in eval mode, gradients off.
    history : dict
        Per-step losses (:data:`HISTORY_KEYS`) and ``"eval"`` entries.
    """
    if source is None:
        source = lambda k, n: render_batch(cfg.seed, k, n)  # noqa: E731
    s = _new_state(model_cfg, cfg, device)
    history: dict[str, list] = {k: [] for k in (*HISTORY_KEYS, "eval")}
    t0 = time.perf_counter()
    with _prefetched(source, cfg.batch_size) as take:
        for step in range(cfg.steps):
            for key, value in zip(HISTORY_KEYS, _train_step(s, cfg, step, take())):
                history[key].append(value)
            if on_eval is not None and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
                entry = {"step": step + 1, "wall_s": round(time.perf_counter() - t0, 1)}
                history["eval"].append({**entry, **on_eval(step + 1, s.G_ema, s.E_ema)})
            if progress is not None:
                progress()
    return s.G_ema.cpu().eval(), s.E_ema.cpu().eval(), history


# --------------------------------------------------------------------------- inference
@torch.no_grad()
def encode(E: Encoder, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Posterior means E(x) of uint8 images: the latents the inversion starts from.

    Parameters
    ----------
    E : Encoder
        The encoder.
    images : ndarray, uint8, shape (N, 64, 64, 3)
    batch : int
        Images per forward pass.

    Returns
    -------
    ndarray, float32, shape (N, z_dim)
    """
    device = next(E.parameters()).device
    out = [E.eval()(to_tensor(images[i : i + batch]).to(device))[0].cpu() for i in range(0, len(images), batch)]
    return torch.cat(out).numpy()


@torch.no_grad()
def decode(G: Generator, z: np.ndarray, batch: int = 256) -> np.ndarray:
    """G(z) as uint8 images.

    Parameters
    ----------
    G : Generator
        The generator.
    z : ndarray, shape (N, z_dim)
    batch : int
        Latents per forward pass.

    Returns
    -------
    ndarray, uint8, shape (N, 64, 64, 3)
    """
    device = next(G.parameters()).device
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    return np.concatenate([to_uint8(G.eval()(z[i : i + batch].to(device))) for i in range(0, len(z), batch)])


# --------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | Path, G: Generator, E: Encoder, model_cfg: ModelConfig, meta: dict) -> None:
    """Write G and E (float16 weights: half the bytes, no measurable loss), config and metadata.

    Parameters
    ----------
    path : path-like
        The file (write it through :func:`fmri_bench.io.atomic_path`).
    G, E : Generator, Encoder
        The networks.
    model_cfg : ModelConfig
        Their architecture.
    meta : dict
        Provenance: command, seed, code version, torch version, ...
    """

    def half(m: nn.Module) -> dict:
        return {k: v.detach().cpu().half().contiguous().clone() for k, v in m.state_dict().items()}

    state = {"format": CODE_VERSION, "model_config": dataclasses.asdict(model_cfg), "meta": meta}
    # Saved through a buffer: torch.save names the zip records after the file, and the
    # caller's file is a temporary one (atomic_path), so the bytes would differ run to run.
    buffer = io.BytesIO()
    torch.save({**state, "generator": half(G), "encoder": half(E)}, buffer)
    Path(path).write_bytes(buffer.getvalue())


def load_checkpoint(path: str | Path) -> tuple[Generator, Encoder, dict]:
    """Read a checkpoint of :func:`save_checkpoint`; any unreadable file is one clear FmriBenchError.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    G, E : Generator, Encoder
        float32, CPU, eval mode, gradients off.
    meta : dict
        The metadata saved with it (with ``"format"`` and ``"model_config"``).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != CODE_VERSION:
            raise ValueError(f"format {state.get('format')!r}, expected {CODE_VERSION!r}")
        cfg = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["model_config"].items()})
        G, E, _ = build(cfg, 0)
        G.load_state_dict({k: v.float() for k, v in state["generator"].items()})
        E.load_state_dict({k: v.float() for k, v in state["encoder"].items()})
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise FmriBenchError(f"{path}: not a readable VAE-GAN checkpoint ({type(exc).__name__}: {exc})") from exc
    for p in (*G.parameters(), *E.parameters()):
        p.requires_grad_(False)
    meta = {**state.get("meta", {}), "format": state["format"], "model_config": state["model_config"]}
    return G.eval(), E.eval(), meta
