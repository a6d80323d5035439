"""``srm-gan``: the seed's GAN inversion in the SRM shared space of all subjects.

Like ``pca-gan``, but the brain embedding is the SRM shared space (brainiak), so the
image -> embedding encoder and the direct decoder are fit once on all subjects' data: the
encoder on the subjects' mean shared response per image, the direct decoder on the pooled
shared responses. Each subject's test set is projected through its own SRM map.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import MultiSubjectBaseline, register
from fmri_bench.estimators.base import check_pairs
from fmri_bench.estimators.srm import SRMAligner, shared_images
from fmri_bench.estimators.torch_support import resolve_device, torch_seeded, torch_threads

from .pca_gan import GAN_CONSTRAINTS, GAN_DEFAULTS, GANInversion


@register("srm-gan")
class SRMGAN(GANInversion, MultiSubjectBaseline):
    """GAN inversion in the SRM shared space (pooled over subjects).

    Parameters
    ----------
    features, n_iter : int
        SRM shared-space dimension and iterations.
    generator, gan_images, gan_steps, generator_seed, inversion, latent_gain, search_steps, search_lr, prior,
    random_state, device, memory
        See :class:`~fmri_bench.baselines.pca_gan.GANInversion`.
    """

    description = "VAE-GAN prior; ridge decode of the SRM shared response into its latent, then a latent search"
    _parameter_constraints = {
        **GAN_CONSTRAINTS,
        "features": [Interval(Integral, 1, 10**4, closed="both")],
        "n_iter": [Interval(Integral, 1, 10**4, closed="both")],
    }

    def __init__(
        self, features: int = 64, n_iter: int = 10, generator: str | None = None, gan_images: str | None = None,
        gan_steps: int = GAN_DEFAULTS["gan_steps"], generator_seed: int = 0, inversion: str = "decode+search",
        latent_gain: float = GAN_DEFAULTS["latent_gain"], search_steps: int = GAN_DEFAULTS["search_steps"],
        search_lr: float = GAN_DEFAULTS["search_lr"], prior: float = GAN_DEFAULTS["prior"], random_state: int = 0,
        device: str = "cpu", memory: str | None = None,
    ) -> None:  # fmt: skip
        self.features = features
        self.n_iter = n_iter
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

    def fit(self, X: Sequence[np.ndarray], images: Sequence[np.ndarray]) -> SRMGAN:
        """Fit SRM, load (or train) the generator, fit the direct decoder and the embedding encoder.

        Parameters
        ----------
        X : list of ndarray
            Each subject's training fMRI.
        images : list of ndarray
            Each subject's stimulus per sample.

        Returns
        -------
        self
        """
        self.check_params()
        self.device_ = resolve_device(self.device)
        pairs = [check_pairs(x, imgs, f"subject {i}") for i, (x, imgs) in enumerate(zip(X, images))]
        responses, shared = shared_images([p[0] for p in pairs], [p[1] for p in pairs])
        self.aligner_ = SRMAligner(features=self.features, n_iter=self.n_iter, random_state=self.random_state)
        shared_responses = self.aligner_.fit_transform(responses)
        self.n_subjects_ = len(responses)
        self.output_size_ = int(shared.shape[1])
        with torch_seeded(self.random_state, self.device_), torch_threads(self.device_):
            self._fit_prior()
            self._fit_brain_side(shared, np.mean(shared_responses, axis=0), shared_responses)
        return self

    def predict(self, X: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Reconstruct each subject's test samples through its own SRM map.

        Parameters
        ----------
        X : list of ndarray
            Each subject's test fMRI, in the order of ``fit``.

        Returns
        -------
        list of ndarray, float32 (n_i, H, W, 3) in [0, 1]
        """
        if len(X) != self.n_subjects_:
            raise FmriBenchError(f"{len(X)} subjects given; the model was fit on {self.n_subjects_} (same order)")
        with torch_seeded(self.random_state, self.device_), torch_threads(self.device_):
            return [self._invert(self.aligner_.transform(x, i)) for i, x in enumerate(X)]
