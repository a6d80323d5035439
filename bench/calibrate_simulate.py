"""Calibration figures of the simulator, measured through the package's own stages.

Usage::

    OMP_NUM_THREADS=1 python bench/calibrate_simulate.py [--size default] [--seed 0] [--motion]
        [--kay] [--png docs/oracle_reconstructions.png] [--keep DIR]

Simulates the dataset into a temporary folder (``--keep``: into DIR, reused when present),
prepares v1 with ``fmri_bench.prepare`` (the code users run) and prints per subject, each
next to its target and real-data anchor:

- visual voxels (ROI voxels of the ground truth; target >= 3,000 on the default size);
- the seed's sanity check (svm-sanity: PCA 300, SVC, 4 training blocks per image) on v1
  (target 0.55-0.70; real ds001506 sub-01: 0.56);
- the participation ratio of the noise-free responses over the natural images (>= 20);
- reliable components of the prepared test data: principal components of the
  even-repetition average whose scores correlate above 0.3 with the odd-repetition
  average's across images (>= 10);
- the oracle decoder's PixCorr, SSIM and pixel identification, scored by
  ``fmri_bench.evaluate`` on the prepared test images (PixCorr >= 0.5), and pca-ridge's as a
  fraction of it;
- with ``--kay`` (needs pymoten): Kay et al. 2008's identification with an encoding model
  fitted on the prepared training data of V1-V3 (120 and 1,000 candidates, 8-repetition
  averages and single trials), next to Kay's 92 % / 72 % (120 images).

``--motion`` simulates head motion; prepare aligns only where the recipe's versions say
``space = "T1w"`` (after the alignment issue), so with today's recipe the figures show
what ignoring motion costs. ``--png`` writes 12 test stimuli above each subject's oracle
reconstructions.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from fmri_bench.data import load, load_images, prepared_subjects, reference_reconstructions
from fmri_bench.metrics import evaluate
from fmri_bench.pipeline import prepare_dataset, run_baseline
from fmri_bench.raw.simulate import ROIS, SIZES, simulate_dataset

PIXEL_METRICS = ["pixcorr", "ssim", "pixel_identification"]
KAY_2008 = (
    "Kay et al. 2008, real V1-V3: 92 % (S1) / 72 % (S2) of 120 images; ~80 % (S1) of 1,000; single trials ~51 % / 32 %"
)


def participation_ratio(x: np.ndarray) -> float:
    """``(sum lambda)^2 / sum lambda^2`` of the covariance over rows (images) of ``x``."""
    xc = x - x.mean(axis=0)
    ev = np.clip(np.linalg.eigvalsh(xc @ xc.T), 0, None)
    return float(ev.sum() ** 2 / (ev**2).sum())


def reliable_components(x: np.ndarray, labels: np.ndarray, threshold: float = 0.3) -> tuple[int, int]:
    """Components of the even-repetition average whose scores replicate (r > threshold) in the odd one.

    Rows are in acquisition order (the prepared test_fmri), so the k-th row of an image is its
    k-th repetition. Returns (reliable components, components tested).
    """
    images = np.unique(labels)
    even = np.stack([x[labels == i][0::2].mean(axis=0) for i in images])
    odd = np.stack([x[labels == i][1::2].mean(axis=0) for i in images])
    even, odd = even - even.mean(axis=0), odd - odd.mean(axis=0)
    _, _, vt = np.linalg.svd(even, full_matrices=False)
    vt = vt[: len(images) - 1]
    a, b = even @ vt.T, odd @ vt.T
    r = ((a - a.mean(0)) * (b - b.mean(0))).mean(0) / (a.std(0) * b.std(0))
    return int((r > threshold).sum()), len(r)


def natural_heights(bids: Path, subject: str) -> np.ndarray:
    folder = bids / "derivatives" / "simulation" / subject
    return np.concatenate([np.load(folder / f"heights_{s}.npy") for s in ("train", "test")]).astype(np.float64)


def subject_figures(bids: Path, home: Path, subject: str, targets: np.ndarray, seed: int) -> dict:
    """Every figure of one subject except Kay's."""
    n_visual = len(np.load(bids / "derivatives" / "simulation" / subject / "roi_voxel_index.npy"))
    (svm,) = run_baseline("svm-sanity", subject=subject, data_home=home, score=False, seed=seed)
    data = load("synthetic", "v1", subject, data_home=home, average_test=False)
    n_rel, n_tested = reliable_components(np.asarray(data.X_test), np.asarray(data.y_test))
    oracle = reference_reconstructions("synthetic", "v1", subject, data_home=home)["oracle (true encoding model)"]
    (ridge,) = run_baseline("pca-ridge", subject=subject, data_home=home, score=False, seed=seed)
    return {
        "visual voxels": n_visual,
        "v1 voxels": data.X_train.shape[1],
        "sanity (v1)": svm.metrics["accuracy"],
        "PR noise-free": participation_ratio(natural_heights(bids, subject)),
        "reliable PCs": f"{n_rel} of {n_tested}",
        **{f"oracle {k}": v for k, v in evaluate(targets, np.asarray(oracle), PIXEL_METRICS).items()},
        **{f"pca-ridge {k}": v for k, v in evaluate(targets, np.load(ridge.submission_path), PIXEL_METRICS).items()},
    }


def kay_figures(bids: Path, home: Path, subject: str, seed: int, features: dict) -> dict:
    """Kay-style identification on the prepared v1 data of V1-V3 (500 best voxels by leave-one-out r)."""
    from kay_identification import KayEncoder, identification_accuracy

    data = load("synthetic", "v1", subject, data_home=home, average_test=False)
    folder = bids / "derivatives" / "simulation" / subject
    label = dict(zip(np.load(folder / "roi_voxel_index.npy"), np.load(folder / "roi_label.npy")))
    flat = np.ravel_multi_index(np.asarray(data.voxel_ijk).T, data.mask.shape)
    v1_v3 = np.array([label.get(int(i), -1) in range(6) for i in flat])  # ROIS[:6]: V1d ... V3v
    assert ROIS[:6] == ("V1d", "V1v", "V2d", "V2v", "V3d", "V3v")
    x_train, y_train = np.asarray(data.X_train)[:, v1_v3], np.asarray(data.y_train)
    x_test, y_test = np.asarray(data.X_test)[:, v1_v3], np.asarray(data.y_test)
    train_avg = np.stack([x_train[y_train == i].mean(0) for i in range(len(features["train"]))])
    test_avg = np.stack([x_test[y_test == i].mean(0) for i in range(len(features["test"]))])
    encoder = KayEncoder(features["train"], train_avg)
    best = np.argsort(encoder.loo_r)[::-1][:500]
    predicted = encoder.predict(np.concatenate([features["test"], features["distractors"]]), best)
    out = {f"Kay {n} candidates": identification_accuracy(test_avg[:, best], predicted[:n]) for n in (120, 1000)}
    out["Kay single trials, 120"] = identification_accuracy(x_test[:, best], predicted[:120], y_test)
    out["Kay median LOO r"] = float(np.median(encoder.loo_r[best]))
    return out


def kay_features(home: Path, seed: int) -> dict:
    """pymoten features of the training and test images and of 950 novel distractors (new categories)."""
    import dataclasses

    from kay_identification import compress_features, gabor_features

    from fmri_bench.raw.simulate.stimuli import _make_stimuli

    train = np.asarray(load_images("synthetic", "v1", "train", data_home=home))
    test = np.asarray(load_images("synthetic", "v1", "test", data_home=home))
    preset = dataclasses.replace(SIZES["default"], n_train=4, n_test=950, image_px=train.shape[1])
    distractors = _make_stimuli(preset, seed + 10_000)[1][4:]  # another seed stream: unseen styles
    raw, signed = gabor_features(np.concatenate([train, test, distractors]))
    f = compress_features(raw, raw[: len(train)], signed)
    return {"train": f[: len(train)], "test": f[len(train) : len(train) + len(test)], "distractors": f[-950:]}


def write_png(bids: Path, home: Path, subjects: list[str], path: Path, n: int = 12, px: int = 64) -> None:
    """12 test stimuli (top row) above each subject's oracle reconstructions, ``px`` pixels each."""
    from PIL import Image

    from fmri_bench.images import resize_images, to_float_nchw, to_uint8

    targets = np.asarray(load_images("synthetic", "v1", "test", data_home=home))[:n]
    rows = [targets] + [
        np.asarray(reference_reconstructions("synthetic", "v1", s, data_home=home)["oracle (true encoding model)"])[:n]
        for s in subjects
    ]
    tiles = [to_uint8(resize_images(to_float_nchw(r), px).transpose(0, 2, 3, 1)) for r in rows]
    sheet = np.concatenate([np.concatenate(list(t), axis=1) for t in tiles], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A 256-colour palette keeps the committed picture small (about 110 KB instead of 300).
    Image.fromarray(sheet).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True
    )
    print(f"wrote {path} (top row: test stimuli; then the oracle's reconstructions of {', '.join(subjects)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default", choices=sorted(SIZES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--motion", action="store_true", help="simulate head motion")
    parser.add_argument("--kay", action="store_true", help="Kay et al. 2008 identification (needs pymoten)")
    parser.add_argument("--png", type=Path, help="write stimuli above oracle reconstructions here")
    parser.add_argument("--keep", type=Path, help="simulate and prepare into this folder (reused)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="fmri-bench-calibrate-"))
    bids, home = work / "bids", work / "home"
    start = time.perf_counter()
    simulate_dataset(bids, size=args.size, seed=args.seed, motion=args.motion)
    prepare_dataset("synthetic", versions=["v1"], source=bids, data_home=home)
    print(
        f"simulated and prepared in {time.perf_counter() - start:.0f} s ({args.size}, seed {args.seed}, motion {args.motion})"
    )
    targets = np.asarray(load_images("synthetic", "v1", "test", data_home=home))
    subjects = prepared_subjects("synthetic", "v1", data_home=home)
    flat = np.broadcast_to(targets.mean(axis=(1, 2), keepdims=True), targets.shape).astype(np.uint8)
    scores = evaluate(targets, flat, PIXEL_METRICS)
    print(
        "reference: each test image's mean colour as a flat field: "
        + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
    )
    features = kay_features(home, args.seed) if args.kay else None
    for subject in subjects:
        figures = subject_figures(bids, home, subject, targets, args.seed)
        if features is not None:
            figures.update(kay_figures(bids, home, subject, args.seed, features))
        figures["pca-ridge / oracle PixCorr"] = figures["pca-ridge pixcorr"] / figures["oracle pixcorr"]
        print(
            subject
            + ": "
            + "; ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
        )
    if args.kay:
        print(KAY_2008)
    if args.png:
        write_png(bids, home, subjects, args.png)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
