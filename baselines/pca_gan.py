"""``pca-gan``: the seed's GAN inversion in a subject's PCA brain space.

A VAE-GAN image prior (shipped with the package, or trained); a ridge decode of the PCA
embedding of each test response into the generator's latent space; an image -> PCA
embedding encoder fit on the training pairs; and a batched latent search for the image
whose encoding is nearest to the brain's embedding. See :mod:`fmri_bench.estimators.gan`.
"""

from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval, StrOptions

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import ReconstructionBaseline, average_by_image, register
from fmri_bench.estimators import gan as _gan
from fmri_bench.estimators import vaegan as _vaegan
from fmri_bench.estimators.base import check_pairs
from fmri_bench.estimators.decoders import DEFAULT_ALPHAS
from fmri_bench.estimators.torch_support import resolve_device, torch_seeded, torch_threads

#: Parameter constraints shared by the GAN baselines.
GAN_CONSTRAINTS = {
    "generator": [str, None],
    "gan_images": [str, None],
    "gan_steps": [Interval(Integral, 1, 10**6, closed="both")],
    "generator_seed": [Interval(Integral, 0, 2**32 - 1, closed="both")],
    "inversion": [StrOptions(set(_gan.INVERSIONS))],
    "latent_gain": [Interval(Real, 0, 100, closed="neither")],
    "search_steps": [Interval(Integral, 0, 10**5, closed="both")],
    "search_lr": [Interval(Real, 0, 10, closed="right")],
    "prior": [Interval(Real, 0, 1e6, closed="both")],
    "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both")],
    "device": [StrOptions({"auto", "cpu", "cuda"})],
    "memory": [str, None],
}
#: Defaults shared by the GAN baselines (measured on the embedded dataset, baselines/README.md).
GAN_DEFAULTS = {
    "generator": None, "gan_images": None, "gan_steps": _vaegan.TrainConfig.steps, "generator_seed": 0,
    "inversion": "decode+search",
    "latent_gain": 1.5, "search_steps": 15, "search_lr": 0.05, "prior": 10.0, "random_state": 0, "device": "cpu",
    "memory": None,
}  # fmt: skip


class GANInversion(_gan.GeneratorSeeded):
    """What the GAN-inversion baselines share: image prior, direct decode, embedding encoder, search.

    Generator-based: the pipeline runs it once per seed of :attr:`generator_seeds` (the
    training seeds of the shipped checkpoints) and records the mean ± sd over them.

    Parameters (of the subclasses)
    ------------------------------
    generator : str or None
        A VAE-GAN checkpoint file (``python -m fmri_bench.pipeline.train_generator``);
        default: the one shipped with the package (seed 0, 4000 steps).
    gan_images : str or None
        Train the generator on this folder of images (seed ``generator_seed``, cached in ``memory``).
    gan_steps : int
        Training steps of a trained generator; another value than 4000 without ``gan_images``
        trains one on the simulator's image stream instead of using the shipped one.
    generator_seed : int
        The generator's training seed: the shipped checkpoint ``vaegan-stimuli64-seed{N}.pt``
        where one exists (seeds 0, 1, 2) and ``gan_steps`` is the default, else the seed of the
        generator that is trained. Ignored with ``generator``.
    inversion : {"decode", "search", "decode+search"}
        The parts used: G(direct decode); the search from the prior mean; the search from the
        direct decode.
    latent_gain : float
        The direct decode is multiplied by this (ridge shrinks toward the mean latent).
    search_steps, search_lr, prior : int, float, float
        Adam steps and learning rate of the latent search; weight of its N(0, I) prior term.
    random_state : int
        Seed of PCA / SRM, of the encoder's cross-validation folds and of torch in the search.
    device : {"auto", "cpu", "cuda"}
        Where torch runs.
    memory : str or None
        A folder where a trained generator is cached.
    """

    def check_params(self) -> None:
        """Validate the parameters, and that ``generator`` is a file and ``gan_images`` a folder.

        Before any data is read.
        """
        super().check_params()
        if self.generator is not None and not Path(self.generator).is_file():
            raise FmriBenchError(f"generator {self.generator}: no such file; expected a VAE-GAN checkpoint (.pt)")
        if self.gan_images is not None and not Path(self.gan_images).is_dir():
            raise FmriBenchError(f"gan_images {self.gan_images}: not a folder; expected a folder of .png/.jpg images")
        if self.generator is not None and self.gan_images is not None:
            raise FmriBenchError("give generator (a checkpoint) or gan_images (a folder to train on), not both")

    def _fit_prior(self) -> None:
        prior = _gan.get_prior(
            generator=self.generator, gan_images=self.gan_images, seed=int(self.generator_seed),
            steps=int(self.gan_steps), cache_dir=self.memory, device=self.device_,
        )  # fmt: skip
        self.generator_, self.latent_encoder_, self.prior_origin_ = prior.generator, prior.encoder, prior.origin

    def _fit_brain_side(self, images: np.ndarray, embedding: np.ndarray, pooled: list[np.ndarray]) -> None:
        """Fit enc on (images, embedding) and the direct decoder on the ``pooled`` embeddings."""
        images = _gan.to_64(images)
        self.embedding_encoder_, self.emb_mean_, self.emb_scale_, self.encoder_r_ = _gan.fit_embedding_encoder(
            images, embedding, seed=int(self.random_state)
        )
        self.search_weights_ = _gan.search_weights(self.encoder_r_)
        self._fit_direct_decoder(images, pooled)

    def _fit_direct_decoder(self, images64: np.ndarray, pooled: list[np.ndarray]) -> None:
        """The part of the fit that depends on the generator: ridge from the embedding to E(x)."""
        self.decoder_inputs_ = (images64, pooled)  # kept for with_generator_seed
        z_train = _vaegan.encode(self.latent_encoder_, images64)
        self.direct_decoder_ = RidgeCV(alphas=np.asarray(DEFAULT_ALPHAS)).fit(
            np.vstack(pooled), np.tile(z_train, (len(pooled), 1))
        )

    def _refit_generator_side(self) -> None:
        """The prior and the direct decoder (the embedding and its encoder do not depend on the generator)."""
        with torch_seeded(self.random_state, self.device_), torch_threads(self.device_):
            self._fit_prior()
            self._fit_direct_decoder(*self.decoder_inputs_)

    def _invert(self, embedding: np.ndarray) -> np.ndarray:
        return _gan.render(self.generator_.cpu(), self._latents(embedding), self.output_size_)

    def _direct_latents(self, embedding: np.ndarray) -> np.ndarray:
        """The direct decode: ridge from the embedding to the generator's latents, times ``latent_gain``."""
        return self.direct_decoder_.predict(embedding).astype(np.float32) * float(self.latent_gain)

    def _latents(self, embedding: np.ndarray) -> np.ndarray:
        """The latent of each reconstruction: the direct decode, then the search (per ``inversion``)."""
        z0 = self._direct_latents(embedding)
        if self.inversion == "search":
            z0 = np.zeros_like(z0)
        if self.inversion != "decode" and int(self.search_steps) > 0:
            target = (embedding - self.emb_mean_) / self.emb_scale_
            z0 = _gan.search_latents(
                self.generator_, self.embedding_encoder_, target, z0, self.search_weights_, anchor=z0,
                steps=int(self.search_steps), lr=float(self.search_lr), prior=float(self.prior), device=self.device_,
            )  # fmt: skip
        return z0


@register("pca-gan")
class PCAGAN(GANInversion, ReconstructionBaseline):
    """The seed's GAN inversion in the PCA space of one subject's fMRI.

    Parameters
    ----------
    n_components : int
        PCA components of the standardized, per-image averaged training fMRI (the brain embedding).
    generator, gan_images, gan_steps, generator_seed, inversion, latent_gain, search_steps, search_lr, prior,
    random_state, device, memory
        See :class:`GANInversion`.
    """

    description = "VAE-GAN prior; ridge decode of the PCA embedding into its latent, then a latent search"
    _parameter_constraints = {**GAN_CONSTRAINTS, "n_components": [Interval(Integral, 1, 10**5, closed="both")]}

    def __init__(
        self, n_components: int = 300, generator: str | None = None, gan_images: str | None = None,
        gan_steps: int = GAN_DEFAULTS["gan_steps"], generator_seed: int = 0, inversion: str = "decode+search",
        latent_gain: float = GAN_DEFAULTS["latent_gain"], search_steps: int = GAN_DEFAULTS["search_steps"],
        search_lr: float = GAN_DEFAULTS["search_lr"], prior: float = GAN_DEFAULTS["prior"], random_state: int = 0,
        device: str = "cpu", memory: str | None = None,
    ) -> None:  # fmt: skip
        self.n_components = n_components
        self.generator = generator
        self.gan_images = gan_images
        self.gan_steps = gan_steps
        self.generator_seed = generator_seed
        self.inversion = inversion
        self.latent_gain = latent_gain
        self.search_steps = search_steps
        self.search_lr = search_lr
        self.prior = prior
        self.random_state = random_state
        self.device = device
        self.memory = memory

    def fit(self, X: np.ndarray, images: np.ndarray) -> PCAGAN:
        """Fit PCA, load (or train) the generator, fit the direct decoder and the embedding encoder.

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
        means, unique = average_by_image(X, images)
        means = means.astype(np.float32)
        k = max(1, min(int(self.n_components), means.shape[0] - 1, means.shape[1]))
        self.pca_ = make_pipeline(StandardScaler(), PCA(k, random_state=self.random_state)).fit(means)
        embedding = self.pca_.transform(means)
        self.output_size_ = int(images.shape[1])
        with torch_seeded(self.random_state, self.device_), torch_threads(self.device_):
            self._fit_prior()
            self._fit_brain_side(unique, embedding, [embedding])
        return self

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
        with torch_seeded(self.random_state, self.device_), torch_threads(self.device_):
            return self._invert(self.pca_.transform(np.asarray(X, dtype=np.float32)))
