"""``srm-gan``: GAN inversion in the SRM shared space of all subjects.

Like ``pca-gan``, but the brain embedding is the SRM shared space (brainiak), so the
image encoder and the start decoder are trained once on all subjects' data: the encoder
on the subjects' mean shared response per image, the ridge start decoder on the pooled
shared responses. Each subject's test set is projected through its own SRM map.
"""

from __future__ import annotations

import numpy as np

from fmri_bench.baselines import _gan
from fmri_bench.baselines._base import BASELINES, TrainData
from fmri_bench.baselines._srm import SRMAligner
from fmri_bench.baselines.pca_gan import GANInversion
from fmri_bench.baselines.srm_ridge import shared_training_responses
from fmri_bench.data import PreparedSubject


@BASELINES.register("srm-gan")
class SRMGAN(GANInversion):
    """GAN inversion in the SRM shared space (pooled over subjects).

    Parameters
    ----------
    features, n_iter : int
        SRM shared-space dimension and iterations.
    **GAN parameters
        See :class:`~fmri_bench.baselines.pca_gan.GANInversion`.
    """

    pooled = True
    description = "DCGAN prior; latent search matching the SRM shared response (all subjects pooled)"

    def __init__(
        self, features: int = 64, n_iter: int = 10, gan_images: str | None = None, gan_size: int = 32,
        gan_z_dim: int = 32, gan_width: int = 16, gan_steps: int = 1000, gan_batch_size: int = 32,
        gan_lr: float = 1e-3, gan_adversarial: float = 0.05, latent_gain: float = 2.0, encoder_steps: int = 150,
        search_steps: int = 0, search_lr: float = 0.05, prior: float = 0.1, shell: bool = False,
    ) -> None:  # fmt: skip
        self.features = features
        self.n_iter = n_iter
        self._init_gan(gan_images, gan_size, gan_z_dim, gan_width, gan_steps, gan_batch_size, gan_lr,
                       gan_adversarial, latent_gain, encoder_steps, search_steps, search_lr, prior, shell)  # fmt: skip

    def fit(self, data: TrainData) -> "SRMGAN":
        self.aligner_ = SRMAligner(features=self.features, n_iter=self.n_iter, random_state=data.seed)
        shared, rows = shared_training_responses(data, self.aligner_)
        self.subjects_ = [s.subject for s in data.subjects]
        with _gan.torch_threads(data.device):
            self._fit_generator(data)
            self._fit_brain_side(data, rows, np.mean(shared, axis=0), shared)
        return self

    def reconstruct(self, subject: PreparedSubject) -> np.ndarray:
        shared = self.aligner_.transform(subject.test_fmri, self.subjects_.index(subject.subject))
        with _gan.torch_threads(self.device_):
            return self._invert(shared)
