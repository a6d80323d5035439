"""What a structural decoder gains and loses on SSIM: library averages and a combined search.

    python bench/structure_frontier.py --data-home H   # H prepared by `./dev demo` or `fmri-bench prepare`

Rows (v1, generator seed 0, every subject; mindeye protocol), each with its pooled paired
difference from ``pca-ridge`` (sign-flip test over every subject's test images):

* ``pca-ridge`` and ``pca-gan`` (the smooth decoders), ``encoding-gan``'s searched image
  (``structure_weight=1``) and ``encoding-gan``'s default (a quarter of that image over the
  direct decode);
* the top-k average of encoding-gan's library images, in pixels, by its library score:
  Naselaris et al. 2009's "averaged high posterior" reconstruction (no generator);
* encoding-gan's latent search started from ``pca-gan``'s latent instead of the library's,
  its prior pulling toward that latent (weight 10 or 30): the brain's decode as the prior,
  the encoding model as the likelihood;
* ``G(E(x))``: the generator given the test stimuli's own latents (what a perfect latent
  decode would score).
"""

from __future__ import annotations

import argparse

import numpy as np

import fmri_bench as fb
from fmri_bench.baselines.encoding_gan import EncodingGAN
from fmri_bench.baselines.pca_gan import PCAGAN
from fmri_bench.baselines.pca_ridge import PCARidge
from fmri_bench.estimators import gan as _gan
from fmri_bench.estimators import vaegan as _vaegan
from fmri_bench.metrics.compare import paired_permutation_p
from fmri_bench.metrics.evaluate import evaluate_detailed

METRICS = ["pixcorr", "ssim", "squeezenet"]


def reconstructions(b) -> dict[str, np.ndarray]:
    """Every row's reconstructions of one subject's test images."""
    train_images = b.images_train[b.y_train]
    X = np.asarray(b.X_test, dtype=np.float32)
    out = {"pca-ridge": PCARidge().fit(b.X_train, train_images).predict(X)}
    pg = PCAGAN().fit(b.X_train, train_images)
    z_pg = pg._latents(pg.pca_.transform(X))
    out["pca-gan"] = _gan.render(pg.generator_.cpu(), z_pg, 64)
    eg = EncodingGAN(structure_weight=1.0).fit(b.X_train, train_images)
    out["encoding-gan's searched image (structure_weight=1)"] = eg.predict(X)
    out["encoding-gan (default: structure_weight=0.25)"] = eg.set_params(structure_weight=0.25).predict(X)
    score, measured, w, target_lp = eg.library_scores(X)
    order = np.argsort(-score.numpy(), axis=1, kind="stable")
    library = eg.library_.astype(np.float32) / 255
    for k in (1, 5, 10):
        out[f"library top-{k} average (pixels)"] = library[order[:, :k]].mean(1)
    for prior in (10.0, 30.0):
        eg.set_params(prior=prior)
        z = eg._search(z_pg, measured, w, target_lp)
        out[f"encoding-model search from pca-gan's latent (prior {prior:g})"] = _gan.render(eg.generator_.cpu(), z, 64)
    out["G(E(x)) of the test stimuli"] = _gan.render(
        pg.generator_.cpu(), _vaegan.encode(pg.latent_encoder_, _gan.to_64(b.images_test)), 64
    )
    return out


def main() -> None:
    """Print one markdown row per reconstruction: means over subjects, pooled differences from pca-ridge."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-home", required=True)
    ap.add_argument("--subjects", nargs="+", default=["sub-01", "sub-02", "sub-03"])
    args = ap.parse_args()
    per_image: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject in args.subjects:
        b = fb.fetch("synthetic", "v1", subject=subject, data_home=args.data_home, verbose=0)
        for name, recon in reconstructions(b).items():
            ev = evaluate_detailed(b.images_test, recon, METRICS)
            for m in METRICS:
                per_image.setdefault(name, {}).setdefault(m, []).append(ev.per_image[m])
        print(f"{subject} done", flush=True)
    print("\n| reconstruction | PixCorr | SSIM | SqueezeNet | SSIM - pca-ridge (p) | SqueezeNet - pca-ridge (p) |")
    print("|---|---|---|---|---|---|")
    ref = {m: np.concatenate(per_image["pca-ridge"][m]) for m in METRICS}
    for name, scores in per_image.items():
        means = [np.mean([s.mean() for s in scores[m]]) for m in METRICS]
        diffs = []
        for m in ("ssim", "squeezenet"):
            a = np.concatenate(scores[m])
            p = paired_permutation_p(a, ref[m]) if name != "pca-ridge" else 1.0
            diffs.append(f"{a.mean() - ref[m].mean():+.3f} ({p:.3g})")
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in means) + " | " + " | ".join(diffs) + " |")


if __name__ == "__main__":
    main()
