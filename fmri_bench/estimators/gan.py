"""Shared code of the GAN-inversion baselines (``pca-gan``, ``srm-gan``).

The seed notebook's idea, made batched and cached:

1. A small DCGAN-style generator (``G``: latent ``z`` -> 32x32 RGB) is trained on the
   training stimuli (or on a larger folder of images, ``gan_images``) together with a
   latent encoder ``E_z``, as an adversarial autoencoder (see :func:`train_gan`), so that
   every training image has a known latent ``E_z(x)``. The images are shared by all
   subjects, so G is trained once per image set and parameters and cached at
   ``<data-home>/cache/gan/<images sha256>-<params hash>.pt`` (atomically), with a
   learning-curve PNG beside it.
2. Each test embedding ``b`` (PCA or SRM space) is decoded to a latent ``z0`` by ridge
   regression from brain embeddings to the latents ``E_z(x)`` of the training images,
   scaled by ``latent_gain`` (ridge shrinks toward the mean latent); ``G(z0)`` is the
   reconstruction, upsampled to the test-image size.
3. Optionally (``search_steps > 0``), an image encoder ``E_b`` (small CNN) learns the map
   image -> brain embedding on the training pairs (the dimensions it predicts on held out
   training images, correlation > 0, weight the search loss), and for all test images at
   once ``z* = argmin_z sum_d w_d (E_b(G(z))_d - b_d)^2 + prior * |z|^2 / dim`` (Adam)
   from ``z0``; the reconstruction is then ``G(z*)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fmri_bench.errors import FmriBenchError
from fmri_bench.images import resize_images, to_float_nchw
from fmri_bench.io import atomic_path, sha256_json
from fmri_bench.progress import make_progress
from fmri_bench.stats import pearson_columns


# --------------------------------------------------------------------------- networks
class Generator(nn.Module):
    """DCGAN generator: z (z_dim) -> 4x4 -> ... -> (3, size, size) in [-1, 1]."""

    def __init__(self, z_dim: int = 64, width: int = 32, size: int = 32) -> None:
        super().__init__()
        n_up = int(np.log2(size // 4))
        if 4 * 2**n_up != size:
            raise FmriBenchError(f"GAN image size must be 4 * 2^k (e.g. 32, 64); got {size}")
        channels = [width * 2 ** (n_up - i) for i in range(n_up)]  # e.g. 128, 64, 32
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, channels[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(channels[-1], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Generate images from latents.

        Parameters
        ----------
        z : Tensor, float32, shape (N, z_dim)
            Latent codes.

        Returns
        -------
        Tensor, float32, shape (N, 3, size, size)
            Images in [-1, 1].
        """
        return self.net(z[:, :, None, None])


class ConvEncoder(nn.Module):
    """Small strided CNN: (3, size, size) -> ``out`` numbers (discriminator, E_z, E_b)."""

    def __init__(self, out: int, width: int = 32, size: int = 32, norm: bool = True) -> None:
        super().__init__()
        n_down = int(np.log2(size // 4))
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(n_down):
            c_out = width * 2**i
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not (norm and i))]
            if norm and i:
                layers += [nn.BatchNorm2d(c_out)]
            layers += [nn.LeakyReLU(0.2, True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * 16, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode images.

        Parameters
        ----------
        x : Tensor, float32, shape (N, 3, size, size)
            Images in [-1, 1] (as :func:`to_tensor` makes them).

        Returns
        -------
        Tensor, float32, shape (N, out)
        """
        return self.head(self.features(x).flatten(1))


# --------------------------------------------------------------------------- data
def to_tensor(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, size, size) in [-1, 1], area-downsampled.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, 3)
        Square RGB images (0-255).
    size : int
        The output side in pixels (smaller images are enlarged bilinearly).

    Returns
    -------
    Tensor, float32, shape (N, 3, size, size)
        On the CPU.
    """
    x = resize_images(to_float_nchw(images), size, method="area")
    return torch.from_numpy(x) * 2.0 - 1.0


# --------------------------------------------------------------------------- GAN training + cache
@dataclass(frozen=True)
class GANConfig:
    """Hyper-parameters of the cached generator (they and the images make the cache key).

    The one place their defaults are spelled out: the GAN baselines take each field as a
    ``gan_<field>`` parameter whose default is read from here.
    """

    size: int = 32
    z_dim: int = 32
    width: int = 16
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    adversarial: float = 0.05
    seed: int = 0


@dataclass
class TrainedGAN:
    generator: Generator
    latent_encoder: ConvEncoder
    config: GANConfig
    path: Path | None
    history: dict[str, list[float]]


def _build(config: GANConfig) -> tuple[Generator, ConvEncoder, ConvEncoder]:
    torch.manual_seed(config.seed)
    G = Generator(config.z_dim, config.width, config.size)
    D = ConvEncoder(1, config.width, config.size)
    E = ConvEncoder(config.z_dim, config.width, config.size)
    for module in (G, D, E):
        for m in module.modules():  # DCGAN initialization
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
    return G, D, E


def _lr_factor(step: int, steps: int) -> float:
    """Constant learning rate for the first 60% of the steps, then linear decay to 0."""
    return min(1.0, (steps - step) / (0.4 * steps))


def train_gan(images: np.ndarray, config: GANConfig, device: str = "cpu") -> tuple[Generator, ConvEncoder, dict]:
    """Train G and E_z as an adversarial autoencoder; return G, E_z, history.

    A plain DCGAN of this size, trained for a minute on 2 CPU cores, only learned textured
    noise patches on the synthetic stimuli (and gave the search no latent of a training
    image to start from). Here E_z and G are trained jointly as an autoencoder, so every
    training image has a known latent ``E_z(x)`` and ``G(E_z(x))`` reconstructs it:

    * reconstruction: ``L1 + MSE`` between ``G(E_z(x))`` and ``x``;
    * latent prior: the batch mean and variance of ``E_z(x)`` are pulled to 0 and 1
      (moment matching, weight 0.05), so latents decoded from the brain live where G
      was trained;
    * adversarial (weight ``config.adversarial``, non-saturating loss, DCGAN
      discriminator): on the reconstructions and on ``G(z)`` for ``z ~ N(0, I)``; it adds
      back some of the texture that the pixel losses average out.

    Adam (``config.lr``, betas 0.5/0.999), constant for 60% of the steps then linearly
    decayed to 0; random horizontal flips.

    Parameters
    ----------
    images : ndarray, uint8, shape (n, H, W, 3)
        Training images (resized to ``config.size`` by :func:`to_tensor`).
    config : GANConfig
        Hyper-parameters; ``config.seed`` seeds initialization and batches.
    device : str
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    generator, latent_encoder : Generator, ConvEncoder
        G and E_z, on the CPU in eval mode.
    history : dict of str to list of float
        Per-step ``d_loss``, ``g_loss`` (0 without adversarial term) and ``e_loss``.
    """
    G, D, E = _build(config)
    G, D, E = G.to(device), D.to(device), E.to(device)
    data = to_tensor(images, config.size).to(device)
    rng = torch.Generator().manual_seed(config.seed)
    opt_g = torch.optim.Adam([*G.parameters(), *E.parameters()], lr=config.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr, betas=(0.5, 0.999))
    history: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "e_loss": []}
    n = data.shape[0]
    with make_progress() as progress:
        task = progress.add_task(f"GAN training ({n} images, {config.size}px)", total=config.steps)
        for step in range(config.steps):
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = config.lr * _lr_factor(step, config.steps)
            idx = torch.randint(0, n, (config.batch_size,), generator=rng).to(device)
            real = data[idx]
            if torch.rand((), generator=rng) < 0.5:  # horizontal flips: cheap augmentation
                real = real.flip(-1)
            z_prior = torch.randn(config.batch_size, config.z_dim, generator=rng).to(device)
            z = E(real)
            rec = G(z)
            rec_loss = F.l1_loss(rec, real) + F.mse_loss(rec, real)
            latent_loss = z.mean(0).pow(2).mean() + (z.var(0) - 1.0).pow(2).mean()
            loss = rec_loss + 0.05 * latent_loss
            d_loss = g_loss = torch.zeros(())
            if config.adversarial > 0:
                fake = torch.cat([rec, G(z_prior)])
                d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                g_loss = F.softplus(-D(fake)).mean()
                loss = loss + config.adversarial * g_loss
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            for key, value in (("d_loss", d_loss), ("g_loss", g_loss), ("e_loss", rec_loss)):
                history[key].append(float(value.detach()))
            progress.advance(task)
    return G.cpu().eval(), E.cpu().eval(), history


def _images_sha256(images: np.ndarray) -> str:
    import hashlib

    arr = np.ascontiguousarray(images)
    digest = hashlib.sha256(f"{arr.dtype}{arr.shape}".encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()


def _save_learning_curve(path: Path, history: dict[str, list[float]], samples: torch.Tensor, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_img) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.4, 1]})
    window = max(1, len(history["d_loss"]) // 50)
    kernel = np.ones(window) / window
    for key, label in (("d_loss", "discriminator"), ("g_loss", "generator"), ("e_loss", "reconstruction (L1 + MSE)")):
        values = np.asarray(history[key])
        if values.size >= window:
            ax.plot(np.arange(window - 1, values.size), np.convolve(values, kernel, mode="valid"), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (moving average, {window} steps)")
    ax.set_title(title)
    ax.legend()
    grid = samples[:64].clamp(-1, 1).add(1).div(2)
    n = int(np.ceil(np.sqrt(grid.shape[0])))
    pad = torch.ones((n * n - grid.shape[0], *grid.shape[1:]))
    tiles = torch.cat([grid, pad]).reshape(n, n, *grid.shape[1:]).permute(0, 3, 1, 4, 2)
    ax_img.imshow(tiles.reshape(n * grid.shape[2], n * grid.shape[3], 3).numpy())
    ax_img.set_title("generator samples")
    ax_img.axis("off")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def canonical_images(images: np.ndarray) -> np.ndarray:
    """The distinct images in a canonical order (by content hash), whatever order they came in.

    Every subject saw the same training images in its own order; in this order they train
    one generator, cached once for all subjects and baselines.

    Parameters
    ----------
    images : ndarray, shape (n, H, W, 3)

    Returns
    -------
    ndarray
    """
    import hashlib

    digests = {hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest(): i for i, img in enumerate(images)}
    return np.asarray(images)[[digests[k] for k in sorted(digests)]]


def get_gan(images: np.ndarray, config: GANConfig, cache_dir: str | Path | None, device: str = "cpu") -> TrainedGAN:
    """Return the generator for ``images`` and ``config``: from the cache, else trained and cached.

    Parameters
    ----------
    images : ndarray, shape (n, H, W, 3)
        Training images (their order does not matter: see :func:`canonical_images`).
    config : GANConfig
        Hyper-parameters.
    cache_dir : path-like, optional
        The cache folder (``<cache_dir>/gan/<key>.pt``); None: no cache.
    device : str
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    TrainedGAN
    """
    images = canonical_images(images)
    # The device is part of the key: a generator trained on CUDA differs in its last bits,
    # and a CPU run must give the same bytes for a seed whatever ran before it.
    key = (
        f"{_images_sha256(to_tensor(images, config.size).numpy())[:16]}-{sha256_json(asdict(config))[:12]}"
        f"-{torch.device(device).type}"
    )
    path = None if cache_dir is None else Path(cache_dir) / "gan" / f"{key}.pt"
    G, _, E = _build(config)
    if path is not None and path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        G.load_state_dict(state["generator"])
        E.load_state_dict(state["latent_encoder"])
        history = {k: list(map(float, v)) for k, v in state["history"].items()}
        return TrainedGAN(G.eval(), E.eval(), config, path, history)
    G, E, history = train_gan(images, config, device)
    if path is not None:
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(
                {"generator": G.state_dict(), "latent_encoder": E.state_dict(), "config": asdict(config),
                 "history": {k: torch.tensor(v) for k, v in history.items()}},
                tmp,
            )  # fmt: skip
        with torch.no_grad():
            samples = G(torch.randn(64, config.z_dim, generator=torch.Generator().manual_seed(config.seed)))
        _save_learning_curve(
            path.with_suffix(".png"), history, samples,
            f"autoencoder-GAN on {len(images)} images at {config.size}px, {config.steps} steps",
        )  # fmt: skip
    return TrainedGAN(G, E, config, path, history)


# --------------------------------------------------------------------------- brain side
def fit_image_encoder(
    images: torch.Tensor,
    embeddings: np.ndarray,
    *,
    steps: int = 400,
    batch_size: int = 64,
    lr: float = 1e-3,
    width: int = 16,
    holdout: float = 0.1,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[ConvEncoder, np.ndarray, np.ndarray, np.ndarray]:
    """Train E_b: image -> standardized brain embedding; return (E_b, mean, scale, dimension weights).

    The weights are the held-out correlations of each dimension, clipped at 0 and squared
    (a dimension the images do not predict should not steer the search); E_b is then
    refit on every training pair.

    Parameters
    ----------
    images : Tensor, float32, shape (N, 3, S, S)
        Training images in [-1, 1] (:func:`to_tensor`).
    embeddings : ndarray, shape (N, D)
        Their brain embeddings, in the same order.
    steps, batch_size, lr, width : int, int, float, int
        AdamW steps, batch size and learning rate (weight decay 0.01); the CNN's base width.
    holdout : float
        Fraction of pairs held out for the weights (at least 2; none below 10 pairs).
    seed : int
        Seeds the split, the initialization and the batches.
    device : {"cpu", "cuda"}

    Returns
    -------
    encoder : ConvEncoder
        E_b, on the CPU in eval mode; it predicts ``(embedding - mean) / scale``.
    mean, scale : ndarray, float32, shape (D,)
        The embeddings' mean and standard deviation (plus 1e-6).
    weights : ndarray, float32, shape (D,)
        Dimension weights, summing to 1 (equal with no held-out pairs or none predicted).
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    mean, scale = emb.mean(0), emb.std(0) + 1e-6
    target = torch.from_numpy((emb - mean) / scale)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(emb))
    n_hold = max(2, int(round(holdout * len(emb)))) if len(emb) >= 10 else 0

    def train(rows: np.ndarray, label: str) -> ConvEncoder:
        torch.manual_seed(seed)
        model = ConvEncoder(emb.shape[1], width, images.shape[-1], norm=False).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
        gen = torch.Generator().manual_seed(seed)
        x_all, y_all = images[rows].to(device), target[rows].to(device)
        with make_progress() as progress:
            task = progress.add_task(label, total=steps)
            for _ in range(steps):
                idx = torch.randint(0, len(rows), (min(batch_size, len(rows)),), generator=gen).to(device)
                loss = F.mse_loss(model(x_all[idx]), y_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                progress.advance(task)
        return model.eval()

    weights = np.ones(emb.shape[1], dtype=np.float32)
    if n_hold:
        held, kept = order[:n_hold], order[n_hold:]
        model = train(kept, "image encoder (held-out check)")
        with torch.no_grad():
            pred = model(images[held].to(device)).cpu().numpy()
        truth = target[held].numpy()
        r = pearson_columns(pred, truth)
        weights = np.clip(r, 0.0, None).astype(np.float32) ** 2
        if weights.sum() <= 0:
            weights = np.ones_like(weights)
    model = train(np.arange(len(emb)), "image encoder")
    return model.cpu(), mean, scale, weights / weights.sum()


def search_latents(
    G: Generator,
    encoder: ConvEncoder,
    targets: np.ndarray,
    z0: np.ndarray,
    weights: np.ndarray,
    *,
    steps: int = 200,
    lr: float = 0.05,
    prior: float = 0.1,
    device: str = "cpu",
) -> np.ndarray:
    """Find, for all targets at once, the latent whose image E_b encodes nearest to the target.

    Minimizes ``sum_d w_d (E_b(G(z))_d - t_d)^2 + prior * mean(z^2)`` from ``z0`` with Adam.

    ``G`` and ``encoder`` are moved to ``device`` in place and stay there.

    Parameters
    ----------
    G : Generator
        The trained generator.
    encoder : ConvEncoder
        E_b (see :func:`fit_image_encoder`).
    targets : ndarray, shape (N, D)
        Standardized brain embeddings, ``(b - mean) / scale``.
    z0 : ndarray, shape (N, z_dim)
        Starting latents.
    weights : ndarray, shape (D,)
        Dimension weights ``w_d``.
    steps : int
        Adam steps.
    lr : float
        Adam learning rate.
    prior : float
        Weight of the ``mean(z^2)`` penalty.
    device : str
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    ndarray, float32, shape (N, z_dim)
        The latents after the last step.
    """
    G, encoder = G.to(device).eval(), encoder.to(device).eval()
    for p in (*G.parameters(), *encoder.parameters()):
        p.requires_grad_(False)
    t = torch.as_tensor(np.asarray(targets, dtype=np.float32), device=device)
    w = torch.as_tensor(np.asarray(weights, dtype=np.float32), device=device)
    z = torch.tensor(np.asarray(z0, dtype=np.float32), device=device, requires_grad=True)
    opt = torch.optim.Adam([z], lr=lr)
    with make_progress() as progress:
        task = progress.add_task(f"latent search ({len(z0)} images)", total=steps)
        for _ in range(steps):
            fit = ((encoder(G(z)) - t) ** 2 * w).sum(1)
            loss = (fit + prior * (z**2).mean(1)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            progress.advance(task)
    for p in (*G.parameters(), *encoder.parameters()):
        p.requires_grad_(True)
    return z.detach().cpu().numpy()


def to_shell(z: np.ndarray) -> np.ndarray:
    """Rescale each latent to norm sqrt(dim), the typical norm of a standard Gaussian sample.

    Parameters
    ----------
    z : ndarray, shape (N, dim)
        Latents (a zero row stays 0).

    Returns
    -------
    ndarray, float32, shape (N, dim)
    """
    z = np.asarray(z, dtype=np.float32)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    return z * (np.sqrt(z.shape[1]) / np.maximum(norm, 1e-8))


def generate(G: Generator, z: np.ndarray, output_size: int) -> np.ndarray:
    """G(z) as float images (N, output_size, output_size, 3) in [0, 1].

    Parameters
    ----------
    G : Generator
        The generator, on the CPU (it is put in eval mode).
    z : ndarray, shape (N, z_dim)
        Latents.
    output_size : int
        The output side in pixels (bilinear enlargement, box-averaged shrinking).

    Returns
    -------
    ndarray, float32, shape (N, output_size, output_size, 3)
    """
    G = G.eval()
    device = next(G.parameters()).device
    with torch.no_grad():
        x = G(torch.as_tensor(np.asarray(z, dtype=np.float32), device=device)).add(1).div(2).clamp(0, 1)
    return resize_images(x.cpu().numpy(), output_size, method="area").transpose(0, 2, 3, 1)


def latents_of(E: ConvEncoder, images: torch.Tensor) -> np.ndarray:
    """E_z(x): the latent codes of images under the trained latent encoder.

    Parameters
    ----------
    E : ConvEncoder
        E_z, on the CPU (it is put in eval mode).
    images : Tensor, float32, shape (N, 3, size, size)
        Images in [-1, 1] (:func:`to_tensor`), on the CPU.

    Returns
    -------
    ndarray, float32, shape (N, z_dim)
    """
    with torch.no_grad():
        return E.eval()(images).numpy()


def gan_config(params: dict[str, Any], seed: int) -> GANConfig:
    """GANConfig from a baseline's ``gan_<field>`` parameters (the field names of GANConfig).

    Parameters
    ----------
    params : dict
        The baseline's parameters (``get_params()``).
    seed : int
        The generator's seed.

    Returns
    -------
    GANConfig
    """
    fields = {f.name: f.type for f in dataclasses.fields(GANConfig) if f.name != "seed"}
    return GANConfig(
        **{
            name: float(params[f"gan_{name}"]) if name in ("lr", "adversarial") else int(params[f"gan_{name}"])
            for name in fields
        },
        seed=seed,
    )
