"""A labelled picture of test stimuli above several methods' reconstructions, from a data home.

    python bench/gallery_figure.py --data-home H --subject sub-02 --out docs/figures/x.png \
        pca-ridge pca-gan encoding-gan icnn oracle

Each name is a baseline's submission folder under ``<data-home>/submissions/synthetic/v1``
(``oracle``: the prepared reference reconstruction of the simulation's true model).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fmri_bench.images import resize_images, to_float_nchw, to_uint8
from fmri_bench.io import load_npy
from fmri_bench.pipeline.train_generator import labelled_rows


def _at(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1] == size and images.dtype == np.uint8:
        return images
    return to_uint8(resize_images(to_float_nchw(images), size, method="area").transpose(0, 2, 3, 1))


def main() -> None:
    """Write the picture."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+")
    ap.add_argument("--data-home", type=Path, required=True)
    ap.add_argument("--subject", default="sub-01")
    ap.add_argument("--version", default="v1")
    ap.add_argument("--n", type=int, default=20, help="test images shown")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scale", type=int, default=1, help="nearest-neighbour enlargement")
    args = ap.parse_args()
    prepared = args.data_home / "synthetic" / args.version
    targets = load_npy(prepared / "images_test.npy")[: args.n]
    rows = [("targets", targets)]
    for name in args.names:
        if name == "oracle":
            path = prepared / args.subject / "reference_oracle.npy"
        else:
            path = args.data_home / "submissions" / "synthetic" / args.version / name / f"{args.subject}.npy"
        rows.append((name.replace(" ", "\n"), _at(load_npy(path)[: args.n], targets.shape[1])))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    labelled_rows(args.out, rows, cols=args.n, scale=args.scale)
    print(args.out)


if __name__ == "__main__":
    main()
