"""``svm-sanity``: the seed notebook's check that the prepared fMRI carries image information.

Exactly the seed's procedure: PCA(300) fit on the training fMRI (``n_components =
min(300, n_samples, n_voxels)``); for many random pairs of images (seeded), an
``SVC(gamma='auto')`` is trained on 4 blocks of each image and tested on the remaining
blocks. The pooled accuracy is reported with its 95% (Wilson) interval and a one-sided
binomial p-value against chance (0.5).

The pairs are drawn from the split whose images have at least 5 blocks each: on
ds001506 the training split (5 repetitions, as the seed did); on the synthetic dataset
(2 training repetitions) the test split, while PCA is still fit on the training fMRI.
The split used is recorded. The seed found 0.56 (v1) and 0.539 (v2) on ds001506 sub-01.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy.stats import binomtest
from sklearn.decomposition import PCA
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import ClassificationBaseline, ClassificationResult, register


def _eligible(labels: np.ndarray, min_blocks: int) -> np.ndarray:
    values, counts = np.unique(labels, return_counts=True)
    return values[counts >= min_blocks]


@register("svm-sanity")
class SVMSanity(ClassificationBaseline):
    """Pairwise SVM classification of single blocks after PCA(300).

    Parameters
    ----------
    n_pairs : int
        Random pairs of images to classify.
    n_components : int
        PCA components (clipped to the training data).
    train_blocks : int
        Blocks per image used for training; the remaining blocks are the test.
    min_blocks : int
        A split is used only when its images have at least this many blocks.
    random_state : int
        Seed of the PCA solver and of the pairs and blocks drawn.

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
        Fit on the training fMRI.
    """

    description = "sanity check: PCA(300) + SVC on random image pairs, 4 training blocks each"
    _parameter_constraints = {
        "n_pairs": [Interval(Integral, 1, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "train_blocks": [Interval(Integral, 1, None, closed="left")],
        "min_blocks": [Interval(Integral, 2, None, closed="left")],
        "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both")],
    }

    def __init__(
        self,
        n_pairs: int = 200,
        n_components: int = 300,
        train_blocks: int = 4,
        min_blocks: int = 5,
        random_state: int = 0,
    ) -> None:
        self.n_pairs = n_pairs
        self.n_components = n_components
        self.train_blocks = train_blocks
        self.min_blocks = min_blocks
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> SVMSanity:
        """Fit the PCA on the training fMRI (``y`` is not used).

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_voxels)
            Training fMRI.
        y : ignored

        Returns
        -------
        self
        """
        self.check_params()
        X = np.asarray(X, dtype=np.float64)
        n = min(int(self.n_components), X.shape[0], X.shape[1])
        self.pca_ = PCA(n_components=n, random_state=self.random_state).fit(X)
        return self

    def _pick_split(self, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
        min_blocks = max(int(self.min_blocks), int(self.train_blocks) + 1)
        for split in ("train", "test"):
            if split not in splits:
                continue
            labels = np.asarray(splits[split][1])
            images = _eligible(labels, min_blocks)
            if images.size >= 2 and images.size == np.unique(labels).size:
                return split
        raise FmriBenchError(
            f"svm-sanity needs a split whose images have >= {min_blocks} blocks each; "
            "neither the train nor the test split has (was the test split averaged?)"
        )

    def evaluate(self, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> ClassificationResult:
        """Pairwise classification on the first split with enough blocks per image.

        Parameters
        ----------
        splits : dict
            ``{"train": (X, y), "test": (X, y)}``: every block of each split and its image.

        Returns
        -------
        ClassificationResult
        """
        split = self._pick_split(splits)
        X, labels = splits[split]
        labels = np.asarray(labels)
        images = _eligible(labels, max(int(self.min_blocks), int(self.train_blocks) + 1))
        Z = self.pca_.transform(np.asarray(X, dtype=np.float64))
        rng = np.random.default_rng(self.random_state)
        correct = total = 0
        for _ in range(int(self.n_pairs)):
            pair = rng.choice(images, size=2, replace=False)
            train_rows, test_rows = [], []
            for image in pair:
                rows = rng.permutation(np.flatnonzero(labels == image))
                train_rows.append(rows[: self.train_blocks])
                test_rows.append(rows[self.train_blocks :])
            tr, te = np.concatenate(train_rows), np.concatenate(test_rows)
            clf = SVC(gamma="auto").fit(Z[tr], labels[tr])
            correct += int((clf.predict(Z[te]) == labels[te]).sum())
            total += te.size
        test = binomtest(correct, total, p=0.5, alternative="greater")
        ci = binomtest(correct, total).proportion_ci(confidence_level=0.95, method="wilson")
        return ClassificationResult(
            accuracy=correct / total,
            ci95=(float(ci.low), float(ci.high)),
            chance=0.5,
            p_value=float(test.pvalue),
            details={
                "split": split,
                "n_pairs": int(self.n_pairs),
                "n_test_blocks": int(total),
                "n_components": int(self.pca_.n_components_),
            },
        )
