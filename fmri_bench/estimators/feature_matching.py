"""Feature-matching image reconstruction (iCNN; Shen, Horikawa, Majima & Kamitani 2019).

Shen G, Horikawa T, Majima K, Kamitani Y (2019). Deep image reconstruction from human brain
activity. PLoS Comput Biol 15(1): e1006633. https://doi.org/10.1371/journal.pcbi.1006633

Two steps, as the authors do them:

1. **Feature decoding.** A CNN's features of the training images are regressed on the
   fMRI, layer by layer. The authors decode every unit with sparse linear regression
   (Horikawa & Kamitani 2017, voxels preselected by correlation); here one ridge per
   layer (:class:`sklearn.linear_model.RidgeCV`, leave-one-out alpha over all its units) on the leading
   principal components of the standardized fMRI, an accepted substitute. To keep it
   fast, each convolutional layer is average-pooled to at most ``grid`` x ``grid``
   positions (the loss below is computed on the same pooled features). The decoded
   features are then rescaled as the authors do ("Correct the norm of the decoded CNN
   features", KamitaniLab/DeepImageReconstruction@e9c4346a ``1_reconstruct_natural_image.py``
   and ``icnn.utils.estimate_cnn_feat_std`` of KamitaniLab/icnn@793e58a9): each image's
   decoded layer is divided by its own feature SD (per-channel SD over positions, averaged
   over channels; plain SD for vectors) and multiplied by the mean SD of the true features
   (theirs: estimated from 10000 images; here: the training images).

2. **Image optimisation.** Minimise, per image, the weighted feature-matching loss
   ``sum_l w_l ||phi_l(x) - t_l||^2`` (their ``loss_type='l2'``: a sum of squared errors),
   with the authors' layer weights ``w_l = 1 / ||t_l||^2`` normalised to sum to one
   (same scripts). The optimiser is their gradient descent with momentum,
   ``icnn_gd.reconstruct_image`` of KamitaniLab/icnn@793e58a9 (``icnn/icnn_gd.py``), whose
   PyTorch port is ``bdpy.recon.torch.icnn.reconstruct`` of KamitaniLab/bdpy@d86199fc
   (https://github.com/KamitaniLab/bdpy/blob/d86199fc0683fe257dc0a3d474a1abdc81b0249f/bdpy/recon/torch/icnn.py),
   with the same defaults: the image in 0-255 units minus the mean pixel, started at the
   mean (the authors' ``initial_image`` of the mean ImageNet colour; here the training
   images' mean colour); for iteration ``t`` of ``T``, every schedule linear from its start
   to its end value (``v_t = v_0 + t (v_1 - v_0) / T``): gradient divided by its mean
   absolute value, ``delta = momentum * delta + grad``, ``x -= lr * delta``, then L2 decay
   ``x *= 1 - decay``, then a Gaussian blur of width ``sigma``; lr 2 -> 1e-10, momentum
   0.9, decay 0.2 -> 1e-10, sigma 2 -> 0.5 px (at their 224 px), 200 iterations, no
   jitter (``image_jitter=False``). The paper's figures without a generator used L-BFGS
   (``icnn_lbfgs``, 200 iterations, ``2_reconstruct_natural_image_without_DGN.py``).

3. **Generator prior (DGN).** The paper's main figures optimise the input of a deep image
   generator instead of the pixels (``icnn_dgn_gd.reconstruct_image`` of
   KamitaniLab/icnn@793e58a9, ``icnn/icnn_dgn_gd.py``, called by
   ``1_reconstruct_natural_image.py`` of KamitaniLab/DeepImageReconstruction@e9c4346a):
   image ``= G(z)``; the same loss and layer weights; gradient of the loss w.r.t. ``z``
   divided by its mean absolute value, ``delta = momentum * delta + grad``,
   ``z -= lr * delta``, L2 decay ``z *= 1 - decay``, then ``z`` clipped to its bounds; no
   blur, no jitter; lr 2 -> 1e-10, momentum 0.9, decay 0.01 (constant), 200 iterations,
   ``z`` started at 0 and bounded below by 0 and above by fc7's "3x" activation range
   (``data/act_range/3x/fc7.txt``: mean + 3 SD of each unit over images).
   :func:`match_latents` is that loop, batched; the baseline ``icnn-dgn`` says how its
   8 x 8 x 8 VAE-GAN latent takes the place of their 4096-d fc7 input.

Every images of a batch are optimised together (the loss is a sum of per-image terms and
the gradient is normalised per image, so each image follows its own trajectory). The blur
uses reflected borders (torch's ``reflect``, which skips the edge pixel; scipy's
``gaussian_filter`` in theirs repeats it), kernel radius ``4 sigma``.

Networks: VGG19 as the authors (all 16 conv and 3 fc layers, before their ReLU), or the
offline SqueezeNet 1.0 / MobileNetV2 of ``../shared/weights`` on the embedded dataset
(:data:`NETWORKS`). Activations are taken before the following in-place ReLU: the network
is copied with ``inplace=False`` so hooked outputs are not overwritten.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.errors import FmriBenchError
from fmri_bench.threads import single_blas_thread

_VGG19_CONV = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


@dataclass(frozen=True)
class Network:
    """A backbone of :mod:`fmri_bench.weights` and the layers whose features are matched.

    Attributes
    ----------
    backbone : str
        The declared backbone (its weights come from the torch cache, never downloaded here).
    layers : tuple of str
        Module names in forward order (``features.<i>``, ``classifier.<i>``).
    input_size : int
        The side the images are resized to before the network; 0 keeps their own size.
    """

    backbone: str
    layers: tuple[str, ...]
    input_size: int = 0


NETWORKS: dict[str, Network] = {
    # Shen et al.: every conv and fc layer of VGG19 (before ReLU), 224 px input.
    "vgg19": Network(
        "vgg19", tuple(f"features.{i}" for i in _VGG19_CONV) + ("classifier.0", "classifier.3", "classifier.6"), 224
    ),
    # The offline networks at the images' own size. SqueezeNet: conv1 (before ReLU), fire3,
    # fire6; not fire9 (features.12), which the squeezenet metric reads and whose decoded
    # features were nearly constant (leave-one-out alpha 1e5): without it, sub-01 and sub-02
    # of the default synthetic dataset scored higher on SSIM, pixel and SqueezeNet
    # identification (baselines/README.md).
    "mobilenet_v2": Network("mobilenet_v2", ("features.1", "features.3", "features.6", "features.13", "features.18")),
    "squeezenet1_0": Network("squeezenet1_0", ("features.0", "features.4", "features.8")),
}


@dataclass(frozen=True)
class Schedule:
    """The optimiser's schedules: each (start, end), linear over ``n_iter`` iterations.

    Defaults are the authors' (``icnn_gd``; ``bdpy.recon.torch.icnn.reconstruct``), with
    ``sigma`` in pixels of the optimised image.
    """

    n_iter: int = 200
    lr: tuple[float, float] = (2.0, 1e-10)
    momentum: tuple[float, float] = (0.9, 0.9)
    decay: tuple[float, float] = (0.2, 1e-10)
    sigma: tuple[float, float] = (2.0, 0.5)

    def at(self, it: int) -> tuple[float, float, float, float]:
        """The (lr, momentum, decay, sigma) of iteration ``it`` (``v0 + it (v1 - v0) / n_iter``).

        Parameters
        ----------
        it : int
            The iteration, from 0.

        Returns
        -------
        tuple of float
        """
        return tuple(a + it * (b - a) / self.n_iter for a, b in (self.lr, self.momentum, self.decay, self.sigma))


def _steps(model: Any) -> list[tuple[str, Any]]:
    """The network as a list of named steps run in order (``features``, then VGG's head)."""
    import torch

    steps = [(f"features.{i}", m) for i, m in enumerate(model.features)]
    if hasattr(model, "avgpool") and hasattr(model, "classifier"):
        steps += [("avgpool", model.avgpool), ("flatten", torch.nn.Flatten())]
        steps += [(f"classifier.{i}", m) for i, m in enumerate(model.classifier)]
    return steps


class FeatureNet:
    """A backbone truncated after its last matched layer: images -> pooled features per layer.

    Parameters
    ----------
    network : Network
        The backbone and layers.
    grid : int
        Convolutional layers are average-pooled to at most ``grid`` x ``grid`` positions.
    device : str
        ``"cpu"`` or ``"cuda"``.
    input_size : int, optional
        Overrides ``network.input_size`` (0: the images' own size).

    Raises
    ------
    fmri_bench.weights.WeightsError
        The backbone's weights are not in the torch cache (one line: what to fetch).
    """

    def __init__(self, network: Network, grid: int, device: str, input_size: int | None = None) -> None:
        import torch

        from fmri_bench.weights import load_backbone

        shared, resolved = load_backbone(network.backbone)
        model = copy.deepcopy(shared)  # the loaded network is shared: never modify it
        for module in model.modules():
            if hasattr(module, "inplace"):
                module.inplace = False
        # The metrics turn the shared network channels-last for speed; one memory format here
        # keeps a seed's bytes the same whether or not a metric ran first in the process.
        model = model.to(device, memory_format=torch.contiguous_format).eval().requires_grad_(False)
        names = [name for name, _ in _steps(model)]
        missing = [layer for layer in network.layers if layer not in names]
        if missing:
            raise FmriBenchError(f"{network.backbone} has no layer {missing[0]!r}; expected one of {names}")
        last = max(names.index(layer) for layer in network.layers)
        self.steps = _steps(model)[: last + 1]
        self.layers = network.layers
        self.grid = int(grid)
        self.input_size = network.input_size if input_size is None else int(input_size)
        wf = resolved.file
        self.mean = torch.tensor(wf.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(wf.std, device=device).view(1, 3, 1, 1)
        self.device = device
        self.sha256 = resolved.sha256

    def __call__(self, images: Any) -> list[Any]:
        """Pooled, flattened features of each layer for float images in [0, 1].

        Parameters
        ----------
        images : torch.Tensor, shape (B, 3, H, W)
            RGB in [0, 1].

        Returns
        -------
        list of torch.Tensor, shape (B, D_l)
            One per layer, in ``layers`` order.
        """
        import torch.nn.functional as F

        x = (images - self.mean) / self.std
        if self.input_size and x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        out = {}
        for name, step in self.steps:
            x = step(x)
            if name in self.layers:
                out[name] = _pool(x, self.grid)
        return [out[layer].flatten(1) for layer in self.layers]

    def shapes(self, size: int) -> list[tuple[int, ...]]:
        """Each layer's pooled feature shape for ``size`` px images ((C, h, w) or (D,)).

        Parameters
        ----------
        size : int
            Image side.

        Returns
        -------
        list of tuple
        """
        import torch

        x = torch.zeros(1, 3, size, size, device=self.device)
        x = (x - self.mean) / self.std
        if self.input_size:
            x = torch.nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear")
        shapes = {}
        with torch.no_grad():
            for name, step in self.steps:
                x = step(x)
                if name in self.layers:
                    shapes[name] = tuple(_pool(x, self.grid).shape[1:])
        return [shapes[layer] for layer in self.layers]

    def extract(self, images: np.ndarray, batch_size: int = 64) -> list[np.ndarray]:
        """Features of float images in [0, 1] (no gradient), in batches.

        Parameters
        ----------
        images : ndarray, float32, shape (N, 3, H, W)
            RGB in [0, 1].
        batch_size : int
            Images per forward pass.

        Returns
        -------
        list of ndarray, float32, shape (N, D_l)
        """
        import torch

        chunks: list[list[np.ndarray]] = [[] for _ in self.layers]
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(self.device)
                for i, feat in enumerate(self(batch)):
                    chunks[i].append(feat.cpu().numpy())
        return [np.concatenate(c).astype(np.float32) for c in chunks]


def _pool(x: Any, grid: int) -> Any:
    """Average-pool a (B, C, H, W) activation to at most ``grid`` x ``grid`` positions."""
    import torch.nn.functional as F

    if x.ndim == 4 and (x.shape[-1] > grid or x.shape[-2] > grid):
        return F.adaptive_avg_pool2d(x, (min(grid, x.shape[-2]), min(grid, x.shape[-1])))
    return x


def feature_sd(features: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Each row's feature SD as the authors estimate it (``estimate_cnn_feat_std``).

    Convolutional layers: the SD over positions of each channel, averaged over channels;
    vectors (or 1 x 1 maps): the plain SD.

    Parameters
    ----------
    features : ndarray, shape (N, D)
        Flattened features of one layer.
    shape : tuple of int
        The layer's per-image shape, (C, h, w) or (D,).

    Returns
    -------
    ndarray, shape (N,)
    """
    features = np.asarray(features, dtype=np.float64)
    if len(shape) == 3 and shape[1] * shape[2] > 1:
        per_channel = features.reshape(len(features), shape[0], -1).std(axis=2)
        return per_channel.mean(axis=1)
    return features.std(axis=1)


def rescale_features(decoded: np.ndarray, shape: tuple[int, ...], target_sd: float) -> np.ndarray:
    """The authors' norm correction: ``decoded / feature_sd(decoded) * target_sd``, per image.

    Parameters
    ----------
    decoded : ndarray, shape (N, D)
        Decoded features of one layer.
    shape : tuple of int
        The layer's per-image shape.
    target_sd : float
        The mean feature SD of the true features (training images).

    Returns
    -------
    ndarray, float32, shape (N, D)
    """
    sd = feature_sd(decoded, shape)
    sd = np.where(sd > 0, sd, 1.0)
    return (decoded / sd[:, None] * target_sd).astype(np.float32)


def layer_weights(targets: list[np.ndarray]) -> np.ndarray:
    """The authors' layer weights: ``1 / ||t_l||^2`` per image, normalised to sum to one.

    Parameters
    ----------
    targets : list of ndarray, shape (N, D_l)
        The target features of each layer.

    Returns
    -------
    ndarray, float32, shape (N, n_layers)
    """
    norms = np.stack([np.sum(np.asarray(t, dtype=np.float64) ** 2, axis=1) for t in targets], axis=1)
    inverse = 1.0 / np.maximum(norms, 1e-12)
    return (inverse / inverse.sum(axis=1, keepdims=True)).astype(np.float32)


class FeatureDecoder:
    """fMRI -> CNN features, one ridge per layer on the PCA of the standardized fMRI.

    Parameters
    ----------
    n_components : int
        Principal components (clipped to the data).
    random_state : int
        Seed of the units the alpha is chosen on when ``max_cv_targets`` is set (the PCA is exact).
    max_cv_targets : int, optional
        Choose each layer's alpha (:class:`~sklearn.linear_model.RidgeCV`, efficient
        leave-one-out) on at most this many of its units, drawn at random, then fit every
        unit with it; None (default): on all units. Measured on the default synthetic
        dataset: with 500 random units the chosen conv1 alpha flipped between 1e3 and 3e3
        with the seed and moved PixCorr by up to 0.06, so the default uses every unit
        (about 9 s more per subject on 2 busy cores).
    """

    def __init__(self, n_components: int = 300, random_state: int = 0, max_cv_targets: int | None = None) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.max_cv_targets = max_cv_targets

    def fit(self, X: np.ndarray, features: list[np.ndarray]) -> FeatureDecoder:
        """Fit the shared PCA and one ridge per layer.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_voxels)
            Training fMRI.
        features : list of ndarray, shape (n_samples, D_l)
            The training images' features, one array per layer.

        Returns
        -------
        self
        """
        from sklearn.decomposition import PCA
        from sklearn.linear_model import Ridge, RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from fmri_bench.estimators.decoders import DEFAULT_ALPHAS

        n = max(1, min(int(self.n_components), X.shape[0] - 1, X.shape[1]))
        self.embed_ = make_pipeline(StandardScaler(), PCA(n_components=n, svd_solver="full"))
        rng = np.random.default_rng(self.random_state)
        self.alphas_, self.ridges_ = [], []
        # One BLAS thread: on a busy 2-core machine two spin-waiting OpenBLAS threads made the
        # PCA of a 600 x 4128 matrix 7x slower (2.96 s against 0.44 s, measured back to back).
        with single_blas_thread():
            Z = self.embed_.fit_transform(np.asarray(X, dtype=np.float32))
            for f in features:
                n_cv = f.shape[1] if self.max_cv_targets is None else min(f.shape[1], int(self.max_cv_targets))
                cols = np.sort(rng.choice(f.shape[1], n_cv, replace=False)) if n_cv < f.shape[1] else slice(None)
                alpha = float(RidgeCV(alphas=np.asarray(DEFAULT_ALPHAS)).fit(Z, f[:, cols]).alpha_)
                self.alphas_.append(alpha)
                self.ridges_.append(Ridge(alpha=alpha).fit(Z, f))
        self._set_arrays()
        return self

    def _set_arrays(self) -> None:
        """The fitted maps as arrays: what :meth:`predict`, :meth:`save` and :meth:`load` use."""
        scaler, pca = self.embed_[0], self.embed_[1]
        self.x_mean_ = scaler.mean_.astype(np.float32)
        self.x_scale_ = scaler.scale_.astype(np.float32)
        self.pca_mean_ = pca.mean_.astype(np.float32)
        self.components_ = pca.components_.astype(np.float32)
        self.coefs_ = [r.coef_.astype(np.float32) for r in self.ridges_]
        self.intercepts_ = [np.asarray(r.intercept_, dtype=np.float32) for r in self.ridges_]

    def save(self, path: str | Path) -> None:
        """Write the fitted decoder as arrays (``np.savez``; read back with :meth:`load`).

        Parameters
        ----------
        path : str or Path
            A ``.npz`` file (written as given: the caller makes it atomic).
        """
        layers = {f"coef_{i}": c for i, c in enumerate(self.coefs_)}
        layers |= {f"intercept_{i}": b for i, b in enumerate(self.intercepts_)}
        with open(path, "wb") as fh:
            np.savez(fh, x_mean=self.x_mean_, x_scale=self.x_scale_, pca_mean=self.pca_mean_,
                     components=self.components_, alphas=np.asarray(self.alphas_), **layers)  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> FeatureDecoder:
        """A decoder written by :meth:`save` (arrays only, ``allow_pickle=False``).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        FeatureDecoder
            It predicts exactly what the saved one did.
        """
        with np.load(path, allow_pickle=False) as data:
            n_layers = len(data["alphas"])
            decoder = cls(n_components=int(data["components"].shape[0]))
            decoder.x_mean_, decoder.x_scale_ = data["x_mean"], data["x_scale"]
            decoder.pca_mean_, decoder.components_ = data["pca_mean"], data["components"]
            decoder.alphas_ = [float(a) for a in data["alphas"]]
            decoder.coefs_ = [data[f"coef_{i}"] for i in range(n_layers)]
            decoder.intercepts_ = [data[f"intercept_{i}"] for i in range(n_layers)]
        return decoder

    def predict(self, X: np.ndarray) -> list[np.ndarray]:
        """Decode each layer's features.

        Parameters
        ----------
        X : ndarray, shape (n, n_voxels)
            fMRI.

        Returns
        -------
        list of ndarray, float32, shape (n, D_l)
        """
        with single_blas_thread():
            Z = ((np.asarray(X, dtype=np.float32) - self.x_mean_) / self.x_scale_ - self.pca_mean_) @ self.components_.T
            return [Z @ coef.T + intercept for coef, intercept in zip(self.coefs_, self.intercepts_)]


#: Part of :func:`fit_decoder_cached`'s key: raise it when the decoder's fit changes.
DECODER_VERSION = 1


def fit_decoder_cached(
    X: np.ndarray, features: list[np.ndarray], n_components: int, random_state: int, memory: str | Path | None
) -> FeatureDecoder:
    """:class:`FeatureDecoder` fit on (``X``, ``features``), read from ``memory`` when fit before.

    ``icnn`` and ``icnn-dgn`` decode the same features from the same fMRI: with the
    pipeline's cache folder the second reads the first's decoders instead of fitting them
    again (about 10 s per subject). The key is the content of ``X`` and ``features``, the
    parameters, :data:`DECODER_VERSION` and scikit-learn's version; the file holds arrays
    only. An unreadable file is fit again and replaced, with a warning.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_voxels)
    features : list of ndarray, shape (n_samples, D_l)
    n_components, random_state : int
        See :class:`FeatureDecoder`.
    memory : str or Path or None
        The cache folder (decoders go in its ``icnn-decoders/``); None: no cache.

    Returns
    -------
    FeatureDecoder
    """
    import hashlib
    import logging
    import zipfile

    import sklearn

    from fmri_bench.io import atomic_path

    decoder = FeatureDecoder(int(n_components), int(random_state))
    if memory is None:
        return decoder.fit(X, features)
    digest = hashlib.sha256(repr((DECODER_VERSION, sklearn.__version__, int(n_components), int(random_state))).encode())
    for array in (X, *features):
        array = np.ascontiguousarray(array)
        digest.update(repr((array.dtype.str, array.shape)).encode())
        digest.update(array.data)
    path = Path(memory) / "icnn-decoders" / f"{digest.hexdigest()[:40]}.npz"
    if path.is_file():
        try:
            return FeatureDecoder.load(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            logging.getLogger(__name__).warning("cached feature decoder unreadable, fitting it again: %s", exc)
    decoder.fit(X, features)
    with atomic_path(path, suffix=".npz") as tmp:
        decoder.save(tmp)
    return decoder


def gaussian_blur(x: Any, sigma: float) -> Any:
    """Blur each channel of (B, C, H, W) with a Gaussian of width ``sigma`` px (radius 4 sigma).

    Parameters
    ----------
    x : torch.Tensor
        Images.
    sigma : float
        Standard deviation in pixels; 0 or less returns ``x``.

    Returns
    -------
    torch.Tensor
    """
    import torch
    import torch.nn.functional as F

    radius = min(int(4.0 * sigma + 0.5), x.shape[-1] - 1, x.shape[-2] - 1)
    if sigma <= 0 or radius < 1:
        return x
    grid = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (grid / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def feature_loss(net: FeatureNet, images: Any, targets: list[Any], weights: Any) -> Any:
    """Per-image loss ``sum_l w_l ||phi_l(x) - t_l||^2``.

    Parameters
    ----------
    net : FeatureNet
    images : torch.Tensor, shape (B, 3, H, W)
        RGB in [0, 1].
    targets : list of torch.Tensor, shape (B, D_l)
        Target features.
    weights : torch.Tensor, shape (B, n_layers)
        Layer weights.

    Returns
    -------
    torch.Tensor, shape (B,)
    """
    feats = net(images)
    return sum(weights[:, i] * (f - t).pow(2).sum(dim=1) for i, (f, t) in enumerate(zip(feats, targets)))


def match_features(
    net: FeatureNet,
    targets: list[np.ndarray],
    weights: np.ndarray,
    *,
    size: int,
    mean_rgb: np.ndarray,
    schedule: Schedule = Schedule(),
) -> tuple[np.ndarray, np.ndarray]:
    """Optimise images so their features match ``targets`` (the authors' ``icnn_gd``), batched.

    Parameters
    ----------
    net : FeatureNet
    targets : list of ndarray, shape (B, D_l)
        Target features per layer.
    weights : ndarray, shape (B, n_layers)
        Layer weights (:func:`layer_weights`).
    size : int
        Side of the optimised images.
    mean_rgb : ndarray, shape (3,)
        The mean pixel in [0, 1]: the start and the centre of the L2 decay.
    schedule : Schedule
        lr, momentum, decay and blur schedules and the number of iterations.

    Returns
    -------
    images : ndarray, float32, shape (B, 3, size, size)
        In [0, 1].
    loss : ndarray, float32, shape (n_iter + 1, B)
        Each image's loss before every iteration and after the last.
    """
    import torch

    device = net.device
    t = [torch.as_tensor(np.asarray(a, dtype=np.float32), device=device) for a in targets]
    w = torch.as_tensor(np.asarray(weights, dtype=np.float32), device=device)
    mean255 = torch.as_tensor(np.asarray(mean_rgb, dtype=np.float32) * 255, device=device).view(1, 3, 1, 1)
    x = torch.zeros(len(w), 3, size, size, device=device)  # 0-255 units, mean subtracted
    delta = torch.zeros_like(x)
    history = []
    for it in range(schedule.n_iter):
        lr, momentum, decay, sigma = schedule.at(it)
        x.requires_grad_(True)
        loss = feature_loss(net, (x + mean255) / 255, t, w)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        history.append(loss.detach().cpu().numpy())
        x = x.detach()
        scale = grad.abs().mean(dim=(1, 2, 3), keepdim=True)
        grad = grad / torch.where(scale > 0, scale, torch.ones_like(scale))
        delta = momentum * delta + grad
        x = gaussian_blur((x - lr * delta) * (1 - decay), sigma)
    images = ((x + mean255) / 255).clamp(0, 1)
    with torch.no_grad():
        history.append(feature_loss(net, images, t, w).cpu().numpy())
    return images.cpu().numpy().astype(np.float32), np.stack(history).astype(np.float32)


def _generate(generator: Any, z: Any, size: int) -> Any:
    """G(z) in [0, 1] at ``size`` px (bilinear from the generator's side; differentiable)."""
    import torch.nn.functional as F

    images = (generator(z) + 1.0) / 2.0  # the VAE-GAN's tanh output in [-1, 1]
    if images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return images


def match_latents(
    net: FeatureNet,
    generator: Any,
    targets: list[np.ndarray],
    weights: np.ndarray,
    *,
    z_init: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray] | None,
    size: int,
    schedule: Schedule = Schedule(decay=(0.01, 0.01)),
) -> tuple[np.ndarray, np.ndarray]:
    """Optimise generator latents so that the features of ``G(z)`` match ``targets`` (``icnn_dgn_gd``), batched.

    Parameters
    ----------
    net : FeatureNet
    generator : torch.nn.Module
        ``z (B, z_dim) -> (B, 3, h, h)`` in [-1, 1], on ``net.device``, gradients off.
    targets : list of ndarray, shape (B, D_l)
        Target features per layer.
    weights : ndarray, shape (B, n_layers)
        Layer weights (:func:`layer_weights`).
    z_init : ndarray, shape (z_dim,) or (B, z_dim)
        The start.
    bounds : (ndarray, ndarray) of shape (z_dim,), or None
        Lower and upper bound of each latent unit, applied after every step.
    size : int
        Side of the images the features are computed on (``G(z)`` resized to it).
    schedule : Schedule
        lr, momentum and decay schedules and the number of iterations (``sigma`` unused: no blur).

    Returns
    -------
    latents : ndarray, float32, shape (B, z_dim)
        The optimised ``z`` (the image is ``G(z)``).
    loss : ndarray, float32, shape (n_iter + 1, B)
        Each image's loss before every iteration and at the returned ``z``.
    """
    import torch

    device = net.device
    t = [torch.as_tensor(np.asarray(a, dtype=np.float32), device=device) for a in targets]
    w = torch.as_tensor(np.asarray(weights, dtype=np.float32), device=device)
    z = torch.as_tensor(np.asarray(z_init, dtype=np.float32), device=device).expand(len(w), -1).clone()
    low, high = (None, None) if bounds is None else (torch.as_tensor(b, device=device) for b in bounds)
    delta = torch.zeros_like(z)
    history = []
    for it in range(schedule.n_iter):
        lr, momentum, decay, _ = schedule.at(it)
        z.requires_grad_(True)
        loss = feature_loss(net, _generate(generator, z, size), t, w)
        (grad,) = torch.autograd.grad(loss.sum(), z)
        history.append(loss.detach().cpu().numpy())
        z = z.detach()
        scale = grad.abs().mean(dim=1, keepdim=True)
        grad = grad / torch.where(scale > 0, scale, torch.ones_like(scale))
        delta = momentum * delta + grad
        z = (z - lr * delta) * (1 - decay)
        if low is not None:
            z = torch.maximum(torch.minimum(z, high), low)
    with torch.no_grad():
        history.append(feature_loss(net, _generate(generator, z, size), t, w).cpu().numpy())
    return z.cpu().numpy().astype(np.float32), np.stack(history).astype(np.float32)
