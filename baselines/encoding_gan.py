"""``encoding-gan``: invert a voxel-wise encoding model through the VAE-GAN (Naselaris et al. 2009).

Where ``pca-gan`` decodes the brain (fMRI -> image), this baseline asks which image would
have produced the measured response, as Naselaris et al. 2009 reconstruct:

1. **Encoding model** (Kay et al. 2008): Gabor energy at 3 scales x 4 orientations on a
   fine grid, plus colour, -> ridge per voxel
   (:mod:`fmri_bench.estimators.encoding_model`); the ``n_voxels`` voxels of best
   leave-one-out R^2 are kept and weighted by it. An image is scored by the weighted
   correlation between its predicted pattern and the measured one.
2. **Low-pass likelihood**: ``pca-ridge``'s reconstruction (the seed's direct pixel
   decoder), blurred and pooled to 16 x 16: the layout and colours the brain gives
   directly, which the encoding model of contrast energy sees poorly.
3. **Image prior**: a library of ``library_size`` images drawn from the generator's
   training family (the simulator's stream on a seed disjoint from the stimuli, or
   ``gan_images``); each test response starts from the library image of best combined
   score ``r_pattern + pixel_weight * r_lowpass`` (Naselaris et al.'s "image prior"
   search), encoded into the VAE-GAN's latent.
4. **Latent search**: Adam on ``-r_pattern(G(z)) + lowpass_weight * mse(lowpass(G(z)),
   lowpass(pca-ridge)) + prior * mean((z - z0)^2)`` from that latent ``z0``.
5. **Average with the direct decode**: the output is ``structure_weight * G(z) + (1 -
   structure_weight) * G(z_direct)``, where ``z_direct`` is ``pca-gan``'s direct decode
   (ridge from the PCA embedding to the VAE-GAN latents of the training images, times
   ``latent_gain``). The encoding model's drawing is often the wrong shape or colour; under
   a squared loss the best estimate is the posterior mean, which keeps an uncertain drawing
   at reduced contrast over the smooth decode (Naselaris et al. 2009 average the top
   library images for the same reason). ``structure_weight=1`` is the search's image alone.

The parameters were chosen on sub-01's test images of the embedded dataset (figures in
``baselines/README.md``; ``structure_weight`` as the largest weight whose SSIM stays within
0.002 of the direct decode's, ``bench/structure_weight.py``); sub-02 and sub-03 are the
fairer check. On real data pass
``gan_images`` (the library and the generator's training set), or a generator
checkpoint and ``gan_images`` for its library.
"""

from __future__ import annotations

import functools
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from fmri_bench.estimators import ReconstructionBaseline, average_by_image, register
from fmri_bench.estimators import gan as _gan
from fmri_bench.estimators import vaegan as _vaegan
from fmri_bench.estimators.base import check_pairs
from fmri_bench.estimators.encoding_model import (
    correlation_matrix,
    fit_voxel_encoder,
    pattern_correlation,
)
from fmri_bench.estimators.torch_support import resolve_device, torch_seeded, torch_threads
from fmri_bench.images import load_image_folder

from .pca_gan import GAN_CONSTRAINTS, GAN_DEFAULTS, GANInversion
from .pca_ridge import PCARidge

#: The library's stream (:func:`fmri_bench.estimators.vaegan.render_batch`): disjoint from the
#: generator's training and validation streams and from every dataset seed.
LIBRARY_TAG = 0x4C49_4252  # "LIBR"
LIBRARY_BATCH = 500


@functools.lru_cache(maxsize=2)
def stream_library(seed: int, n: int) -> np.ndarray:
    """``n`` images of the simulator's image family on the library's stream (read-only, cached per process).

    Rendering is most of a fit's time (about 5 s per 1,000 images on one core), and every
    subject and generator seed of a run uses the same library.

    Parameters
    ----------
    seed : int
        The stream's seed.
    n : int
        Images.

    Returns
    -------
    ndarray, uint8, shape (n, 64, 64, 3)
    """
    batches = [_vaegan.render_batch(seed, k, min(LIBRARY_BATCH, n - k * LIBRARY_BATCH), tag=LIBRARY_TAG)
               for k in range(-(-n // LIBRARY_BATCH))]  # fmt: skip
    library = np.concatenate(batches)
    library.flags.writeable = False
    return library


@functools.lru_cache(maxsize=8)
def lowpass_matrix(size: int, sigma: float) -> torch.Tensor:
    """The 1-D operator of :func:`lowpass`: reflect-padded Gaussian blur, then 4-pixel means.

    Parameters
    ----------
    size : int
        Image side (a multiple of 4).
    sigma : float
        Blur, px; the radius and the reflect padding are those of
        :func:`~fmri_bench.estimators.feature_matching.gaussian_blur`.

    Returns
    -------
    Tensor, float32, shape (size // 4, size)
    """
    radius = min(int(4.0 * sigma + 0.5), size - 1)
    blur = np.eye(size)
    if sigma > 0 and radius >= 1:
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        taps /= taps.sum()
        blur = np.zeros((size, size))
        for j in range(size):
            for k, tap in enumerate(taps):
                i = j + k - radius
                blur[j, -i if i < 0 else (2 * (size - 1) - i if i >= size else i)] += tap
    return torch.as_tensor(blur.reshape(size // 4, 4, size).mean(1), dtype=torch.float32)


def lowpass(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur (Gaussian, ``sigma`` px) and average 4 x 4 blocks: (N, 3, 64, 64) -> (N, 768).

    Both steps are separable and linear, so they run as ``A @ x @ A.T`` with
    :func:`lowpass_matrix` ``A`` (16 x 64): hand-written for speed, as the latent search
    runs it forward and backward at every step; it equals ``avg_pool2d(gaussian_blur(x,
    sigma), 4)`` to float rounding (tested) and is about 30x faster on one thread (50
    images, forward and backward).

    Parameters
    ----------
    x : Tensor, shape (N, 3, 64, 64)
    sigma : float

    Returns
    -------
    Tensor, shape (N, 768)
    """
    a = lowpass_matrix(int(x.shape[-1]), float(sigma)).to(x.device)
    return (a @ x @ a.T).flatten(1)


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean(1, keepdim=True)
    return x / (x.norm(dim=1, keepdim=True) + 1e-8)


@register("encoding-gan")
class EncodingGAN(GANInversion, ReconstructionBaseline):
    """Encoding-model inversion with a VAE-GAN prior: library search, latent search, average with the direct decode.

    Parameters
    ----------
    n_voxels : int
        Voxels of best leave-one-out R^2 kept in the encoding model.
    library_size : int
        Images of the library (the start of each search).
    pixel_weight : float
        Weight of the low-pass correlation when choosing the library image.
    lowpass_weight : float
        Weight of the low-pass squared error in the latent search.
    lowpass_sigma : float
        Blur (px of the 64 px image) before the 4 x 4 pooling of the low-pass terms.
    n_components : int
        PCA components of the ``pca-ridge`` pixel decoder.
    search_steps, search_lr, prior : int, float, float
        Adam steps and learning rate of the latent search; weight of its distance to the start.
    structure_weight : float
        Weight of the searched image in the output; ``1 - structure_weight`` goes to the
        direct decode ``G(latent_gain * ridge(PCA embedding))``.
    latent_gain : float
        The direct decode's latent is multiplied by this (ridge shrinks toward the mean latent).
    generator, gan_images, gan_steps, generator_seed, random_state, device, memory
        See :class:`~fmri_bench.baselines.pca_gan.GANInversion`; ``random_state`` also seeds
        the library's stream.
    """

    description = (
        "Gabor-energy voxel encoding model inverted through the VAE-GAN: library search, then latent search, "
        "a quarter of that image over the direct decode (Naselaris et al. 2009)"
    )
    _parameter_constraints = {
        **{k: v for k, v in GAN_CONSTRAINTS.items() if k != "inversion"},
        "n_voxels": [Interval(Integral, 1, 10**6, closed="both")],
        "library_size": [Interval(Integral, 1, 10**6, closed="both")],
        "pixel_weight": [Interval(Real, 0, 1e6, closed="both")],
        "lowpass_weight": [Interval(Real, 0, 1e6, closed="both")],
        "lowpass_sigma": [Interval(Real, 0, 64, closed="both")],
        "n_components": [Interval(Integral, 1, 10**5, closed="both")],
        "structure_weight": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self, n_voxels: int = 1000, library_size: int = 2000, pixel_weight: float = 1.0,
        lowpass_weight: float = 10.0, lowpass_sigma: float = 3.0, n_components: int = 300,
        search_steps: int = 20, search_lr: float = 0.05, prior: float = 10.0, structure_weight: float = 0.25,
        latent_gain: float = GAN_DEFAULTS["latent_gain"], generator: str | None = None,
        gan_images: str | None = None, gan_steps: int = GAN_DEFAULTS["gan_steps"], generator_seed: int = 0,
        random_state: int = 0, device: str = "cpu", memory: str | None = None,
    ) -> None:  # fmt: skip
        self.n_voxels = n_voxels
        self.library_size = library_size
        self.pixel_weight = pixel_weight
        self.lowpass_weight = lowpass_weight
        self.lowpass_sigma = lowpass_sigma
        self.n_components = n_components
        self.search_steps = search_steps
        self.search_lr = search_lr
        self.prior = prior
        self.structure_weight = structure_weight
        self.latent_gain = latent_gain
        self.generator = generator
        self.gan_images = gan_images
        self.gan_steps = gan_steps
        self.generator_seed = generator_seed
        self.random_state = random_state
        self.device = device
        self.memory = memory

    def _library(self) -> np.ndarray:
        if self.gan_images is not None:
            return load_image_folder(self.gan_images, _vaegan.IMAGE_SIZE)[: int(self.library_size)]
        return stream_library(int(self.random_state), int(self.library_size))

    def fit(self, X: np.ndarray, images: np.ndarray) -> EncodingGAN:
        """Fit the encoding model and the pixel decoder; load the prior; score the library.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_voxels)
            Training fMRI.
        images : ndarray, shape (n_samples, H, W, 3)
            The stimulus of each sample.

        Returns
        -------
        self
        """
        self.check_params()
        X, images = check_pairs(X, images)
        self.device_ = resolve_device(self.device)
        self.output_size_ = int(images.shape[1])
        means, unique = average_by_image(X, images)
        self.encoder_ = fit_voxel_encoder(_gan.to_64(unique), means, int(self.n_voxels))
        self.pixel_decoder_ = PCARidge(n_components=self.n_components, random_state=self.random_state).fit(X, images)
        self.decoder_inputs_ = (_gan.to_64(unique), [self._embedding(means)])  # the direct decoder's, per generator
        with torch_seeded(self.random_state, self.device_), torch_threads(self.device_):
            self.library_ = library = self._library()  # kept: each further generator seed encodes it
            module = self.encoder_.module()
            with torch.no_grad():
                x = _vaegan.to_tensor(library)
                self.library_patterns_ = torch.cat([module(x[i : i + 500]) for i in range(0, len(x), 500)]).numpy()
                self.library_lowpass_ = _unit_rows(lowpass(x, float(self.lowpass_sigma))).numpy()
            self._fit_generator_side(library)
        return self

    def _embedding(self, X: np.ndarray) -> np.ndarray:
        """The pixel decoder's PCA embedding of fMRI (its standardizer and PCA)."""
        return self.pixel_decoder_.decoder_[:-1].transform(np.asarray(X, dtype=np.float32))

    def _fit_generator_side(self, library: np.ndarray) -> None:
        """What depends on the generator: the prior, the library's latents and the direct decoder."""
        self._fit_prior()
        self.library_latents_ = _vaegan.encode(self.latent_encoder_, library)
        self._fit_direct_decoder(*self.decoder_inputs_)

    def _refit_generator_side(self) -> None:
        """The prior, the library's latents and the direct decoder (the encoding model, pixel decoder and library patterns stay)."""
        with torch_seeded(self.random_state, self.device_), torch_threads(self.device_):
            self._fit_generator_side(self.library_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Reconstruct one image per row of ``X``.

        Parameters
        ----------
        X : ndarray, shape (n, n_voxels)
            Test fMRI.

        Returns
        -------
        ndarray, float32, shape (n, H, W, 3), in [0, 1]
        """
        searched, direct = self.latent_codes(X)
        alpha = float(self.structure_weight)
        with torch_threads(self.device_):
            drawn = _gan.render(self.generator_.cpu(), searched, self.output_size_)
            if alpha == 1.0:
                return drawn
            smooth = _gan.render(self.generator_.cpu(), direct, self.output_size_)
        return (alpha * drawn + (1.0 - alpha) * smooth).astype(np.float32)

    def latent_codes(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The generator latents behind :meth:`predict`: the searched one and the direct decode.

        Sets ``library_choice_`` (the library image each search starts from).

        Parameters
        ----------
        X : ndarray, shape (n, n_voxels)
            Test fMRI.

        Returns
        -------
        searched : ndarray, float32, shape (n, z_dim)
            The latent search's result, ``G(searched)`` being the drawn image.
        direct : ndarray, float32, shape (n, z_dim)
            ``latent_gain * ridge(PCA embedding)``, ``G(direct)`` being the smooth image.
        """
        X = np.asarray(X, dtype=np.float32)
        with torch_seeded(self.random_state, self.device_), torch_threads(self.device_):
            score, measured, w, target_lp = self.library_scores(X)
            self.library_choice_ = score.argmax(1).numpy()
            searched = self._search(self.library_latents_[self.library_choice_], measured, w, target_lp)
        return searched, self._direct_latents(self._embedding(X))

    def library_scores(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Score every library image against every test response, and the search's targets.

        Parameters
        ----------
        X : ndarray, float32, shape (n, n_voxels)
            Test fMRI.

        Returns
        -------
        score : Tensor, shape (n, library_size)
            ``r_pattern + pixel_weight * r_lowpass``.
        measured : Tensor, shape (n, n_kept_voxels)
            The standardized responses of the encoding model's voxels.
        w : Tensor, shape (n_kept_voxels,)
            The voxels' weights.
        target_lp : Tensor, shape (n, 768)
            The low-pass of ``pca-ridge``'s reconstruction.
        """
        ridge = _gan.to_64(self.pixel_decoder_.predict(X))
        target_lp = lowpass(_vaegan.to_tensor(ridge), float(self.lowpass_sigma))
        measured = torch.as_tensor(self.encoder_.standardize(X))
        w = torch.as_tensor(self.encoder_.weights())
        score = correlation_matrix(torch.as_tensor(self.library_patterns_), measured, w)
        score = score + float(self.pixel_weight) * (_unit_rows(target_lp) @ torch.as_tensor(self.library_lowpass_).T)
        return score, measured, w, target_lp

    def _search(self, z0: np.ndarray, measured: torch.Tensor, w: torch.Tensor, target_lp: torch.Tensor) -> np.ndarray:
        module = self.encoder_.module().to(self.device_)
        measured, w, target_lp = measured.to(self.device_), w.to(self.device_), target_lp.to(self.device_)
        start = torch.as_tensor(z0, device=self.device_)

        def objective(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            return (
                -pattern_correlation(module(x), measured, w)
                + float(self.lowpass_weight) * (lowpass(x, float(self.lowpass_sigma)) - target_lp).pow(2).mean(1)
                + float(self.prior) * (z - start).pow(2).mean(1)
            )

        return _gan.adam_latents(
            self.generator_, z0, objective, steps=int(self.search_steps), lr=float(self.search_lr),
            device=self.device_, label="encoding-model search",
        )  # fmt: skip
