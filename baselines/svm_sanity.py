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

from typing import Any

import numpy as np
from scipy.stats import binomtest
from sklearn.decomposition import PCA
from sklearn.svm import SVC

from fmri_bench.baselines._base import BASELINES, Baseline, TrainData
from fmri_bench.data import PreparedSubject
from fmri_bench.errors import FmriBenchError


def _eligible(labels: np.ndarray, min_blocks: int) -> np.ndarray:
    values, counts = np.unique(labels, return_counts=True)
    return values[counts >= min_blocks]


@BASELINES.register("svm-sanity")
class SVMSanity(Baseline):
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
    """

    kind = "classification"
    average_test = False  # the runner loads every test block, not per-image means
    description = "sanity check: PCA(300) + SVC on random image pairs, 4 training blocks each"

    def __init__(self, n_pairs: int = 200, n_components: int = 300, train_blocks: int = 4, min_blocks: int = 5) -> None:
        self.n_pairs = n_pairs
        self.n_components = n_components
        self.train_blocks = train_blocks
        self.min_blocks = min_blocks

    def fit(self, data: TrainData) -> "SVMSanity":
        (subject,) = data.subjects
        X = np.asarray(subject.train_fmri, dtype=np.float64)
        n = min(int(self.n_components), X.shape[0], X.shape[1])
        self.pca_ = PCA(n_components=n, random_state=data.seed).fit(X)
        self.seed_ = data.seed
        return self

    def evaluate(self, subject: PreparedSubject, data: TrainData) -> dict[str, Any]:
        min_blocks = max(int(self.min_blocks), int(self.train_blocks) + 1)
        for split, fmri, labels in (
            ("train", subject.train_fmri, subject.train_labels),
            ("test", subject.test_fmri, subject.test_labels),
        ):
            images = _eligible(np.asarray(labels), min_blocks)
            if images.size >= 2 and images.size == np.unique(labels).size:
                break
        else:
            raise FmriBenchError(
                f"{subject.subject}: svm-sanity needs a split whose images have >= {min_blocks} blocks each; "
                "neither the train nor the test split has (was the test split averaged?)"
            )
        Z = self.pca_.transform(np.asarray(fmri, dtype=np.float64))
        labels = np.asarray(labels)
        rng = np.random.default_rng(self.seed_)
        correct = total = 0
        per_pair = []
        for _ in range(int(self.n_pairs)):
            pair = rng.choice(images, size=2, replace=False)
            train_rows, test_rows = [], []
            for image in pair:
                rows = rng.permutation(np.flatnonzero(labels == image))
                train_rows.append(rows[: self.train_blocks])
                test_rows.append(rows[self.train_blocks :])
            tr, te = np.concatenate(train_rows), np.concatenate(test_rows)
            clf = SVC(gamma="auto").fit(Z[tr], labels[tr])
            hits = int((clf.predict(Z[te]) == labels[te]).sum())
            correct += hits
            total += te.size
            per_pair.append(hits / te.size)
        test = binomtest(correct, total, p=0.5, alternative="greater")
        ci = binomtest(correct, total).proportion_ci(confidence_level=0.95, method="wilson")
        return {
            "accuracy": correct / total,
            "accuracy_ci95_low": float(ci.low),
            "accuracy_ci95_high": float(ci.high),
            "p_value": float(test.pvalue),
            "chance": 0.5,
            "n_pairs": int(self.n_pairs),
            "n_test_blocks": int(total),
            "pair_accuracy_sd": float(np.std(per_pair)),
            "split": split,
            "n_components": int(self.pca_.n_components_),
        }
