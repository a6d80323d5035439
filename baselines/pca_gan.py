"""``pca-gan``: GAN inversion in a subject's PCA brain space (the seed notebook's realistic images).

A cached autoencoder-GAN trained on the stimuli gives the image prior and a latent for
every training image; each test response is decoded to a latent by ridge regression from
the PCA embedding of the fMRI, and the generator renders it. An optional batched latent
search (``search_steps``) refines it toward the image whose encoding (an image encoder
trained on image -> PCA embedding) is nearest. See :mod:`fmri_bench.baselines._gan`.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fmri_bench.baselines import _gan
from fmri_bench.baselines._base import BASELINES, Baseline, TrainData, train_targets
from fmri_bench.baselines.pca_ridge import DEFAULT_ALPHAS
from fmri_bench.data import PreparedSubject


class GANInversion(Baseline):
    """Common part of the GAN-inversion baselines: generator, image encoder, latent search.

    Parameters
    ----------
    gan_images : str or None
        A folder of images to train the generator on (default: the training stimuli).
    gan_size, gan_z_dim, gan_width, gan_steps, gan_batch_size, gan_lr, gan_adversarial
        Generator resolution, latent size, channel width, training steps, batch, learning
        rate, weight of the adversarial loss (see :func:`~fmri_bench.baselines._gan.train_gan`).
    latent_gain : float
        The ridge-decoded start latent is multiplied by this: ridge shrinks its prediction
        toward 0 (the mean latent, whose image is the blurry average), so the decoded
        latents have about a third of the norm of the training latents. 2 was measured
        best for SSIM on the synthetic dataset (PixCorr kept rising up to 3-4, SSIM fell).
    encoder_steps : int
        Training steps of the image -> brain-embedding encoder (not trained when search_steps is 0).
    search_steps, search_lr, prior : int, float, float
        The latent search: Adam steps, learning rate, weight of the Gaussian prior on z.
        Off by default (0 steps: the reconstruction is ``G(latent_gain * ridge(b))``): on
        the synthetic dataset 100 search steps from that start lowered PixCorr 0.38 -> 0.25
        and SSIM 0.88 -> 0.85 (pca-gan, 3 subjects), as the image encoder E_b learns the
        noisy brain embedding poorly and the search drifts to images that fool it.
    shell : bool
        Rescale the start and final latents to norm sqrt(z_dim), where almost all of the
        Gaussian prior's mass lies: a ridge-decoded latent is shrunk toward 0, and G(0)
        is the blurry "average" image; on the shell G gives sharper samples. Off by
        default: on the synthetic dataset it lowered SSIM (0.80 -> 0.66) and PixCorr.
    """

    def _init_gan(self, gan_images, gan_size, gan_z_dim, gan_width, gan_steps, gan_batch_size, gan_lr,
                  gan_adversarial, latent_gain, encoder_steps, search_steps, search_lr, prior, shell) -> None:  # fmt: skip
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

    def _fit_generator(self, data: TrainData) -> None:
        images = data.images_train
        if self.gan_images:
            images = _gan.load_image_folder(self.gan_images, int(self.gan_size))
        gan = _gan.get_gan(images, _gan.gan_config(self.get_params(), data.seed), data.cache_dir, data.device)
        self.generator_, self.latent_encoder_, self.gan_path_ = gan.generator, gan.latent_encoder, gan.path
        self.device_, self.seed_, self.output_size_ = data.device, data.seed, data.output_size

    def _fit_brain_side(self, data: TrainData, rows: np.ndarray, embedding: np.ndarray, pooled: list[np.ndarray]) -> None:
        """Train E_b on (images[rows], embedding) and the ridge start decoder on ``pooled`` embeddings."""
        images = _gan.to_tensor(data.images_train[rows], int(self.gan_size))
        self.image_encoder_ = None
        if int(self.search_steps) > 0:
            self.image_encoder_, self.emb_mean_, self.emb_scale_, self.emb_weights_ = _gan.fit_image_encoder(
                images, embedding, steps=int(self.encoder_steps), seed=data.seed, device=data.device
            )
        z_train = _gan.latents_of(self.latent_encoder_, images)
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


@BASELINES.register("pca-gan")
class PCAGAN(GANInversion):
    """GAN inversion in the PCA space of one subject's fMRI.

    Parameters
    ----------
    n_components : int
        PCA components of the standardized, per-image averaged training fMRI (the brain embedding).
    **GAN parameters
        See :class:`GANInversion`.
    """

    description = "DCGAN prior; latent search for the image whose encoding matches the PCA brain embedding"

    def __init__(
        self, n_components: int = 300, gan_images: str | None = None, gan_size: int = 32, gan_z_dim: int = 32,
        gan_width: int = 16, gan_steps: int = 1000, gan_batch_size: int = 32, gan_lr: float = 1e-3,
        gan_adversarial: float = 0.05, latent_gain: float = 2.0, encoder_steps: int = 150,
        search_steps: int = 0, search_lr: float = 0.05, prior: float = 0.1, shell: bool = False,
    ) -> None:  # fmt: skip
        self.n_components = n_components
        self._init_gan(gan_images, gan_size, gan_z_dim, gan_width, gan_steps, gan_batch_size, gan_lr,
                       gan_adversarial, latent_gain, encoder_steps, search_steps, search_lr, prior, shell)  # fmt: skip

    def fit(self, data: TrainData) -> "PCAGAN":
        (subject,) = data.subjects
        X, rows = train_targets(subject, data)
        k = max(1, min(int(self.n_components), X.shape[0] - 1, X.shape[1]))
        self.pca_ = make_pipeline(StandardScaler(), PCA(k, random_state=data.seed)).fit(X)
        embedding = self.pca_.transform(X)
        with _gan.torch_threads(data.device):
            self._fit_generator(data)
            self._fit_brain_side(data, rows, embedding, [embedding])
        return self

    def reconstruct(self, subject: PreparedSubject) -> np.ndarray:
        with _gan.torch_threads(self.device_):
            return self._invert(self.pca_.transform(np.asarray(subject.test_fmri, dtype=np.float32)))
