"""A voxel-wise encoding model of early visual cortex (Kay et al. 2008) and its use as a likelihood.

Image -> fixed, differentiable Gabor-energy + colour features (:func:`encoding_feature_map`)
-> ridge, one penalty per voxel (scikit-learn's ``RidgeCV`` with ``alpha_per_target``,
its efficient leave-one-out) -> predicted responses. The leave-one-out R^2 of each voxel
selects the voxels and weighs them; :func:`pattern_correlation` compares a predicted
pattern with a measured one over those voxels, as Kay et al. 2008 identify images (the
correlation of predicted and measured patterns), and as Naselaris et al. 2009 score
candidate images in their Bayesian reconstruction.

Sources: Kay, Naselaris, Prenger & Gallant 2008, "Identifying natural images from human
brain activity", Nature 452 (Gabor wavelet pyramid, voxel-wise linear model,
identification by correlation); Naselaris, Prenger, Kay, Oliver & Gallant 2009, "Bayesian
reconstruction of natural images from human brain activity", Neuron 63 (an image prior
searched for the image whose predicted response matches the measured one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fmri_bench.estimators.gan import ImageFeatures

#: Ridge penalties searched per voxel (on standardized features).
ENCODING_ALPHAS = tuple(float(a) for a in np.logspace(1, 5, 9))


def encoding_feature_map() -> nn.Module:
    """The encoding model's features: :class:`~fmri_bench.estimators.gan.ImageFeatures` on a finer grid.

    Gabor energy at 3 scales x 4 orientations averaged over 16 x 16, 16 x 16 and 8 x 8 grids
    (pRFs in V1 are a few pixels wide: the 8 x 8 grid of the GAN's encoder is too coarse for
    single voxels) and RGB over 16 x 16: 4 x (256 + 256 + 64) + 3 x 256 = 3,072 numbers.

    Returns
    -------
    torch.nn.Module
        Images in [-1, 1] (N, 3, 64, 64) -> features (N, 3072).
    """
    return ImageFeatures(grids=(16, 16, 8), colour_grid=16)


@dataclass
class VoxelEncoder:
    """A fitted encoding model restricted to its selected voxels.

    Attributes
    ----------
    feature_mean, feature_scale : ndarray, shape (F,)
        Feature standardization.
    coef : ndarray, shape (F, V)
        Ridge weights of the selected voxels (standardized responses).
    intercept : ndarray, shape (V,)
    voxels : ndarray of int, shape (V,)
        Columns of the fMRI the model predicts.
    response_mean, response_scale : ndarray, shape (V,)
        The selected voxels' training mean and SD (measured patterns are standardized with them).
    r2 : ndarray, shape (V,)
        Leave-one-out R^2 of the selected voxels.
    """

    feature_mean: np.ndarray
    feature_scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    voxels: np.ndarray
    response_mean: np.ndarray
    response_scale: np.ndarray
    r2: np.ndarray

    def standardize(self, X: np.ndarray) -> np.ndarray:
        """Measured fMRI as the model's standardized responses of its voxels.

        Parameters
        ----------
        X : ndarray, shape (n, n_voxels)

        Returns
        -------
        ndarray, float32, shape (n, V)
        """
        return ((np.asarray(X)[:, self.voxels] - self.response_mean) / self.response_scale).astype(np.float32)

    def weights(self) -> np.ndarray:
        """Voxel weights of the pattern comparison: LOO R^2 (clipped at 0), mean 1.

        Returns
        -------
        ndarray, float32, shape (V,)
        """
        w = np.clip(self.r2, 0.0, None)
        return (w / w.mean() if w.sum() > 0 else np.ones_like(w)).astype(np.float32)

    def module(self) -> nn.Module:
        """The model as a torch module: images in [-1, 1] (N, 3, 64, 64) -> responses (N, V).

        Returns
        -------
        torch.nn.Module
        """
        return _EncoderModule(self)


class _EncoderModule(nn.Module):
    def __init__(self, enc: VoxelEncoder) -> None:
        super().__init__()
        self.features = encoding_feature_map()
        for name in ("feature_mean", "feature_scale", "coef", "intercept"):
            self.register_buffer(name, torch.as_tensor(np.asarray(getattr(enc, name), dtype=np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((self.features(x) - self.feature_mean) / self.feature_scale) @ self.coef + self.intercept


def encoding_features(images: np.ndarray, batch: int = 500) -> np.ndarray:
    """:func:`encoding_feature_map` of uint8 images, as numpy.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, 64, 64, 3)
    batch : int
        Images per pass.

    Returns
    -------
    ndarray, float32, shape (N, 3072)
    """
    from fmri_bench.estimators.vaegan import to_tensor

    net = encoding_feature_map()
    with torch.no_grad():
        return torch.cat([net(to_tensor(images[i : i + batch])) for i in range(0, len(images), batch)]).numpy()


def fit_voxel_encoder(images: np.ndarray, responses: np.ndarray, n_voxels: int, chunk: int = 4096) -> VoxelEncoder:
    """Fit the encoding model of every voxel; keep the ``n_voxels`` best predicted (leave-one-out R^2).

    Parameters
    ----------
    images : ndarray, uint8, shape (n, 64, 64, 3)
        Training images (one per row of ``responses``).
    responses : ndarray, shape (n, n_voxels_total)
        Their fMRI responses (per-image averages).
    n_voxels : int
        Voxels kept.
    chunk : int
        Voxels fit per pass (memory: n x chunk x 9 float64 leave-one-out errors).

    Returns
    -------
    VoxelEncoder
    """
    from sklearn.linear_model import RidgeCV

    feats = encoding_features(images).astype(np.float64)
    f_mean, f_scale = feats.mean(0), feats.std(0) + 1e-6
    Y = np.asarray(responses, dtype=np.float64)
    y_mean, y_scale = Y.mean(0), Y.std(0) + 1e-6
    Yz = (Y - y_mean) / y_scale
    Fz = (feats - f_mean) / f_scale
    r2, coef, intercept = np.empty(Y.shape[1]), np.empty((Y.shape[1], Fz.shape[1])), np.empty(Y.shape[1])
    for start in range(0, Y.shape[1], chunk):  # the LOO errors are (n, voxels, alphas): bounded per chunk
        cols = slice(start, start + chunk)
        ridge = RidgeCV(alphas=np.asarray(ENCODING_ALPHAS), alpha_per_target=True, store_cv_results=True)
        ridge.fit(Fz, Yz[:, cols])
        # each voxel's penalty is the one of least leave-one-out error
        r2[cols] = 1.0 - ridge.cv_results_.mean(0).min(-1) / Yz[:, cols].var(0)
        coef[cols], intercept[cols] = ridge.coef_, ridge.intercept_
    keep = np.sort(np.argsort(-r2, kind="stable")[: max(1, min(int(n_voxels), Y.shape[1]))])
    return VoxelEncoder(
        feature_mean=f_mean.astype(np.float32), feature_scale=f_scale.astype(np.float32),
        coef=coef[keep].T.astype(np.float32), intercept=intercept[keep].astype(np.float32),
        voxels=keep, response_mean=y_mean[keep].astype(np.float32), response_scale=y_scale[keep].astype(np.float32),
        r2=r2[keep].astype(np.float32),
    )  # fmt: skip


def pattern_correlation(predicted: torch.Tensor, measured: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted Pearson correlation of each predicted pattern with its measured pattern, over voxels.

    Parameters
    ----------
    predicted : Tensor, shape (N, V)
    measured : Tensor, shape (N, V) or (M, V) with N = M
    weights : Tensor, shape (V,)
        Voxel weights.

    Returns
    -------
    Tensor, shape (N,)
    """
    p = predicted - (predicted * weights).sum(1, keepdim=True) / weights.sum()
    m = measured - (measured * weights).sum(1, keepdim=True) / weights.sum()
    num = (p * m * weights).sum(1)
    return num / ((p * p * weights).sum(1).sqrt() * (m * m * weights).sum(1).sqrt() + 1e-8)


def correlation_matrix(predicted: torch.Tensor, measured: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted correlation of every measured pattern with every predicted one.

    Parameters
    ----------
    predicted : Tensor, shape (L, V)
        E.g. a library's predicted patterns.
    measured : Tensor, shape (N, V)
    weights : Tensor, shape (V,)

    Returns
    -------
    Tensor, shape (N, L)
    """

    def centred_unit(x: torch.Tensor) -> torch.Tensor:
        x = x - (x * weights).sum(1, keepdim=True) / weights.sum()
        return x * weights.sqrt() / ((x * x * weights).sum(1, keepdim=True).sqrt() + 1e-8)

    return centred_unit(measured) @ centred_unit(predicted).T
