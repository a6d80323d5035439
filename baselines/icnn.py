"""``icnn``: the DIR authors' feature-matching reconstruction (Shen et al. 2019), without a generator.

Decode a CNN's features from the fMRI layer by layer (ridge on the fMRI's principal
components, where the authors use sparse linear regression), then optimise each test image
so that its features match the decoded ones, with the authors' loss, layer weights and
gradient descent with momentum (:mod:`fmri_bench.estimators.feature_matching` has the
method and its sources). The generator-prior variant (their "DGN") is the baseline
``icnn-dgn`` (:mod:`fmri_bench.baselines.icnn_dgn`).

Networks: ``vgg19`` is the authors' (all conv and fc layers, 224 px input; its weights
come from ``fmri-bench weights fetch vgg19``, never implicitly). On the embedded dataset
(64 px images) ``network="auto"`` picks SqueezeNet 1.0 (the offline weights of
``../shared/weights``): measured on the default synthetic dataset (sub-01, 40
iterations, the authors' decay), MobileNetV2's features were barely decodable (leave-one-out
chose alpha 3e4 for every layer) and gave reconstructions with no image-specific content
(PixCorr -0.004, SqueezeNet identification 0.500, against 0.281 and 0.556 for SqueezeNet). SqueezeNet 1.0 is also the network of the
``squeezenet`` identification metric of the ``mindeye`` protocol (its ``features.12``):
icnn matches conv1, fire3 and fire6, not that layer, but the metric is not independent of
its objective, so the row declares it (``networks`` in the submission's sidecar, shown
on the leaderboard). ``auto`` picks VGG19 for images of 128 px or more (the real datasets).

Deviations from the authors' defaults, each measured on the default synthetic dataset
(prepared at 5053658, before fc5b6a3, v1, sub-01, SqueezeNet with fire9 as a fourth layer, 40 iterations;
figures in ``baselines/README.md``; chosen on sub-01's test images, so sub-02 and sub-03
are the fairer check):

* 40 iterations instead of 200: the demo's budget on 2 CPU cores (60 gave PixCorr
  0.292 against 0.281 for 40, with the authors' decay);
* no L2 decay of the image (theirs: 0.2 -> 1e-10): with few iterations the decay keeps
  the image near the mean colour; PixCorr / SSIM / SqueezeNet identification were
  0.281 / 0.861 / 0.556 with theirs, 0.319 / 0.866 / 0.551 with 0.05, 0.325 / 0.867 /
  0.571 with 0.02, 0.331 / 0.868 / 0.579 with none;
* the blur's sigma 2 -> 0.5 px is kept in pixels of the 64 px images (relatively 3.5 times
  wider than theirs at 224 px); 3 -> 1 px gave 0.293 / 0.862 / 0.516 (authors' decay);
* the decoded features are not rescaled to the training features' SD by default
  (``rescale=True`` does as the authors; it gave 0.191 / 0.858 / 0.535).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import ReconstructionBaseline, average_by_image, register
from fmri_bench.estimators.base import check_pairs
from fmri_bench.estimators.feature_matching import (
    NETWORKS,
    FeatureNet,
    Schedule,
    feature_sd,
    fit_decoder_cached,
    layer_weights,
    match_features,
    rescale_features,
)
from fmri_bench.estimators.torch_support import resolve_device, torch_seeded, torch_threads
from fmri_bench.images import resize_images, to_float_nchw

#: Image side from which ``network="auto"`` uses VGG19 (the real datasets: 256 px).
VGG_FROM_SIZE = 128


def _positive() -> list:
    return [Interval(Real, 0, None, closed="left")]


@register("icnn")
class ICNN(ReconstructionBaseline):
    """Feature decoding (ridge per layer) + feature-matching image optimisation (Shen et al. 2019).

    Parameters
    ----------
    network : {"auto", "vgg19", "squeezenet1_0", "mobilenet_v2"}
        The CNN whose features are decoded and matched; ``auto``: VGG19 for images of
        128 px or more, else SqueezeNet 1.0.
    n_components : int
        Principal components of the standardized training fMRI (the decoders' input).
    grid : int
        Convolutional layers are average-pooled to at most ``grid`` x ``grid`` positions.
    n_iter : int
        Gradient-descent iterations (the authors: 200).
    lr_start, lr_end : float
        Learning rate, linear from start to end (0-255 pixel units, normalised gradient).
    momentum : float
        Momentum of the gradient descent.
    decay_start, decay_end : float
        L2 decay of the image toward the mean colour after each step.
    sigma_start, sigma_end : float
        Width in pixels of the Gaussian blur after each step (0: none).
    rescale : bool
        Rescale each decoded layer to the training features' SD (the authors' correction).
    batch_size : int
        Test images optimised together.
    average_train : bool
        Average the samples of each training image before fitting.
    device : {"auto", "cpu", "cuda"}
        Where the network runs.
    random_state : int
        Seed (the PCA's randomized solver; torch runs seeded and deterministic).
    memory : str or None
        A cache folder for the fitted feature decoders (the pipeline passes the data home's
        ``cache/``), which ``icnn`` and ``icnn-dgn`` then share; None: no cache.

    Attributes
    ----------
    network_ : str
        The network used.
    networks_ : list of str
        The backbones it used (recorded with the submission).
    decoder_ : FeatureDecoder
        fMRI -> features of each layer.
    """

    description = "Shen et al. 2019: CNN features decoded by ridge per layer, image optimised to match them"
    _parameter_constraints = {
        "network": [StrOptions({"auto", *NETWORKS})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "grid": [Interval(Integral, 1, 64, closed="both")],
        "n_iter": [Interval(Integral, 1, 10_000, closed="both")],
        "lr_start": _positive(),
        "lr_end": _positive(),
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "decay_start": [Interval(Real, 0, 1, closed="left")],
        "decay_end": [Interval(Real, 0, 1, closed="left")],
        "sigma_start": _positive(),
        "sigma_end": _positive(),
        "rescale": ["boolean"],
        "batch_size": [Interval(Integral, 1, 4096, closed="both")],
        "average_train": ["boolean"],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both")],
        "memory": [str, None],
    }

    def __init__(
        self, network: str = "auto", n_components: int = 300, grid: int = 8, n_iter: int = 40,
        lr_start: float = 2.0, lr_end: float = 1e-10, momentum: float = 0.9, decay_start: float = 0.0,
        decay_end: float = 0.0, sigma_start: float = 2.0, sigma_end: float = 0.5, rescale: bool = False,
        batch_size: int = 50, average_train: bool = True, device: str = "cpu", random_state: int = 0,
        memory: str | None = None,
    ) -> None:  # fmt: skip
        self.network = network
        self.n_components = n_components
        self.grid = grid
        self.n_iter = n_iter
        self.lr_start = lr_start
        self.lr_end = lr_end
        self.momentum = momentum
        self.decay_start = decay_start
        self.decay_end = decay_end
        self.sigma_start = sigma_start
        self.sigma_end = sigma_end
        self.rescale = rescale
        self.batch_size = batch_size
        self.average_train = average_train
        self.device = device
        self.random_state = random_state
        self.memory = memory

    def _schedule(self) -> Schedule:
        return Schedule(
            n_iter=int(self.n_iter),
            lr=(float(self.lr_start), float(self.lr_end)),
            momentum=(float(self.momentum), float(self.momentum)),
            decay=(float(self.decay_start), float(self.decay_end)),
            sigma=(float(self.sigma_start), float(self.sigma_end)),
        )

    def fit(self, X: np.ndarray, images: np.ndarray) -> ICNN:
        """Extract the training images' features and fit one ridge decoder per layer.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_voxels)
            Training fMRI.
        images : ndarray, shape (n_samples, H, W, 3)
            The stimulus of each sample.

        Returns
        -------
        self

        Raises
        ------
        FmriBenchError
            A bad parameter, ``cuda`` without a GPU, or the network's weights absent.
        """
        self.check_params()
        X, images = check_pairs(X, images)
        self.device_ = resolve_device(self.device)
        if self.average_train:
            X, images = average_by_image(X, images)
        size = int(images.shape[1])
        self.network_ = (
            self.network if self.network != "auto" else ("vgg19" if size >= VGG_FROM_SIZE else "squeezenet1_0")
        )
        pixels = to_float_nchw(images)
        with torch_seeded(self.random_state, self.device_), torch_threads(self.device_):
            self.net_ = FeatureNet(NETWORKS[self.network_], int(self.grid), self.device_)
            features = self.net_.extract(pixels)
            self.shapes_ = self.net_.shapes(size)
        self.networks_ = [NETWORKS[self.network_].backbone]
        self.weights_sha256_ = self.net_.sha256
        self.target_sd_ = [float(feature_sd(f, s).mean()) for f, s in zip(features, self.shapes_)]
        self.decoder_ = fit_decoder_cached(X, features, self.n_components, self.random_state, self.memory)
        self.mean_rgb_ = pixels.mean(axis=(0, 2, 3))
        self.output_size_ = size
        return self

    def decode(self, X: np.ndarray) -> list[np.ndarray]:
        """The target features of each layer for each row of ``X`` (decoded, rescaled if asked).

        Parameters
        ----------
        X : ndarray, shape (n, n_voxels)
            fMRI.

        Returns
        -------
        list of ndarray, float32, shape (n, D_l)
        """
        decoded = self.decoder_.predict(X)
        if self.rescale:
            decoded = [rescale_features(d, s, sd) for d, s, sd in zip(decoded, self.shapes_, self.target_sd_)]
        return decoded

    def reconstruct(self, targets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Optimise one image per row of ``targets`` (batches of ``batch_size``).

        Parameters
        ----------
        targets : list of ndarray, shape (n, D_l)
            Target features per layer (e.g. :meth:`decode`, or true features).

        Returns
        -------
        images : ndarray, float32, shape (n, H, W, 3), in [0, 1]
        loss : ndarray, float32, shape (n_iter + 1, n)
            Each image's feature-matching loss before every step and after the last.
        """
        if not hasattr(self, "net_"):
            raise FmriBenchError("icnn: call fit before predict")
        n, step = len(targets[0]), int(self.batch_size)
        images, losses = [], []
        with torch_seeded(self.random_state, self.device_), torch_threads(self.device_):
            for start in range(0, n, step):
                batch = [t[start : start + step] for t in targets]
                out, loss = match_features(self.net_, batch, layer_weights(batch), size=self.output_size_,
                                           mean_rgb=self.mean_rgb_, schedule=self._schedule())  # fmt: skip
                images.append(out)
                losses.append(loss)
        out = np.concatenate(images).transpose(0, 2, 3, 1)
        if out.shape[1] != self.output_size_:
            out = resize_images(out, self.output_size_, method="area", channels_last=True)
        return np.clip(out, 0.0, 1.0).astype(np.float32), np.concatenate(losses, axis=1)

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
        return self.reconstruct(self.decode(X))[0]
