"""``pca-gan``: GAN inversion in a subject's PCA brain space (the seed notebook's realistic images).

A cached autoencoder-GAN trained on the stimuli gives the image prior and a latent for
every training image; each test response is decoded to a latent by ridge regression from
the PCA embedding of the fMRI, and the generator renders it. An optional batched latent
search (``search_steps``) refines it toward the image whose encoding (an image encoder
trained on image -> PCA embedding) is nearest. See :mod:`fmri_bench.estimators.gan`.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval, StrOptions

from fmri_bench.estimators import ReconstructionBaseline, average_by_image, register
from fmri_bench.estimators import gan as _gan
from fmri_bench.estimators.base import check_pairs
from fmri_bench.estimators.decoders import DEFAULT_ALPHAS
from fmri_bench.estimators.torch_support import resolve_device, torch_seeded, torch_threads
from fmri_bench.images import load_image_folder

_G = _gan.GANConfig
#: Parameter constraints shared by the GAN baselines.
GAN_CONSTRAINTS = {
    "gan_images": [str, None],
    "gan_size": [Interval(Integral, 8, 128, closed="both")],  # 4 * 2^k, checked by the generator
    "gan_z_dim": [Interval(Integral, 1, 1024, closed="both")],
    "gan_width": [Interval(Integral, 1, 512, closed="both")],
    "gan_steps": [Interval(Integral, 1, None, closed="left")],
    "gan_batch_size": [Interval(Integral, 1, 4096, closed="both")],
    "gan_lr": [Interval(Real, 0, None, closed="neither")],
    "gan_adversarial": [Interval(Real, 0, None, closed="left")],
    "latent_gain": [Interval(Real, 0, None, closed="neither")],
    "encoder_steps": [Interval(Integral, 1, None, closed="left")],
    "search_steps": [Interval(Integral, 0, None, closed="left")],
    "search_lr": [Interval(Real, 0, None, closed="neither")],
    "prior": [Interval(Real, 0, None, closed="left")],
    "shell": ["boolean"],
    "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both")],
    "device": [StrOptions({"auto", "cpu", "cuda"})],
    "memory": [str, None],
}


class GANInversion:
    """What the GAN-inversion baselines share: generator, image encoder, latent search.

    Parameters (of the subclasses)
    ------------------------------
    gan_images : str or None
        A folder of images to train the generator on (default: the training stimuli).
    gan_size, gan_z_dim, gan_width, gan_steps, gan_batch_size, gan_lr, gan_adversarial
        The fields of :class:`~fmri_bench.estimators.gan.GANConfig` (defaults there).
    latent_gain : float
        The ridge-decoded start latent is multiplied by this: ridge shrinks its prediction
        toward 0 (the mean latent, whose image is the blurry average). 2 was measured
        best for SSIM on the synthetic dataset.
    encoder_steps : int
        Training steps of the image -> brain-embedding encoder (not trained when search_steps is 0).
    search_steps, search_lr, prior : int, float, float
        The latent search: Adam steps, learning rate, weight of the Gaussian prior on z.
        Off by default (0 steps: the reconstruction is ``G(latent_gain * ridge(b))``).
    shell : bool
        Rescale the start and final latents to norm sqrt(z_dim). Off by default.
    random_state : int
        Seed of the generator, the encoders and the search.
    device : {"auto", "cpu", "cuda"}
        Where torch runs.
    memory : str or None
        A folder where the trained generator is cached (keyed by images and settings).
    """

    def _fit_generator(self, images: np.ndarray) -> None:
        if self.gan_images:
            images = load_image_folder(self.gan_images, int(self.gan_size))
        gan = _gan.get_gan(
            images,
            _gan.gan_config(self.get_params(), self.random_state),
            None if self.memory is None else self.memory,
            self.device_,
        )
        self.generator_, self.latent_encoder_, self.gan_path_ = gan.generator, gan.latent_encoder, gan.path

    def _fit_brain_side(self, images: np.ndarray, embedding: np.ndarray, pooled: list[np.ndarray]) -> None:
        """Train E_b on (images, embedding) and the ridge start decoder on ``pooled`` embeddings."""
        tensors = _gan.to_tensor(images, int(self.gan_size))
        self.image_encoder_ = None
        if int(self.search_steps) > 0:
            self.image_encoder_, self.emb_mean_, self.emb_scale_, self.emb_weights_ = _gan.fit_image_encoder(
                tensors, embedding, steps=int(self.encoder_steps), seed=self.random_state, device=self.device_
            )
        z_train = _gan.latents_of(self.latent_encoder_, tensors)
        self.start_decoder_ = RidgeCV(alphas=np.asarray(DEFAULT_ALPHAS)).fit(
            np.vstack(pooled), np.tile(z_train, (len(pooled), 1))
        )

    def _invert(self, embedding: np.ndarray) -> np.ndarray:
        z0 = self.start_decoder_.predict(embedding) * float(self.latent_gain)
        if self.shell:
            z0 = _gan.to_shell(z0)
        if self.image_encoder_ is None:
            return _gan.generate(self.generator_, z0, self.output_size_)
        target = (embedding - self.emb_mean_) / self.emb_scale_
        z = _gan.search_latents(
            self.generator_, self.image_encoder_, target, z0, self.emb_weights_,
            steps=int(self.search_steps), lr=float(self.search_lr), prior=float(self.prior), device=self.device_,
        )  # fmt: skip
        return _gan.generate(self.generator_, _gan.to_shell(z) if self.shell else z, self.output_size_)


@register("pca-gan")
class PCAGAN(GANInversion, ReconstructionBaseline):
    """GAN inversion in the PCA space of one subject's fMRI.

    Parameters
    ----------
    n_components : int
        PCA components of the standardized, per-image averaged training fMRI (the brain embedding).
    gan_images, gan_size, gan_z_dim, gan_width, gan_steps, gan_batch_size, gan_lr, gan_adversarial, latent_gain,
    encoder_steps, search_steps, search_lr, prior, shell, random_state, device, memory
        See :class:`GANInversion`.
    """

    description = "autoencoder-GAN prior; ridge from the PCA brain embedding into its latent (optional search)"
    _parameter_constraints = {**GAN_CONSTRAINTS, "n_components": [Interval(Integral, 1, None, closed="left")]}

    def __init__(
        self, n_components: int = 300, gan_images: str | None = None, gan_size: int = _G.size,
        gan_z_dim: int = _G.z_dim, gan_width: int = _G.width, gan_steps: int = _G.steps,
        gan_batch_size: int = _G.batch_size, gan_lr: float = _G.lr, gan_adversarial: float = _G.adversarial,
        latent_gain: float = 2.0, encoder_steps: int = 150, search_steps: int = 0, search_lr: float = 0.05,
        prior: float = 0.1, shell: bool = False, random_state: int = 0, device: str = "cpu",
        memory: str | None = None,
    ) -> None:  # fmt: skip
        self.n_components = n_components
        self.gan_images = gan_images
        self.gan_size = gan_size
        self.gan_z_dim = gan_z_dim
        self.gan_width = gan_width
        self.gan_steps = gan_steps
        self.gan_batch_size = gan_batch_size
        self.gan_lr = gan_lr
        self.gan_adversarial = gan_adversarial
        self.latent_gain = latent_gain
        self.encoder_steps = encoder_steps
        self.search_steps = search_steps
        self.search_lr = search_lr
        self.prior = prior
        self.shell = shell
        self.random_state = random_state
        self.device = device
        self.memory = memory

    def fit(self, X: np.ndarray, images: np.ndarray) -> PCAGAN:
        """Fit PCA, the generator (or load it from ``memory``) and the latent decoder.

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
            self._fit_generator(unique)
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
