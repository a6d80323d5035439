"""The procedural stimulus images: shapes, gratings and textures in category styles."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fmri_bench.raw.simulate.config import SizePreset, _rng

# --------------------------------------------------------------------------- images

_SHAPES = ("disc", "square", "triangle", "bar", "ring")
_FILLS = ("flat", "grating", "noise")
_BACKGROUNDS = ("flat", "gradient", "grating", "noise")


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))))


def _noise_texture(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """Band-passed noise in [0, 1]: white noise low-passed in the Fourier domain."""
    white = rng.standard_normal((n, n))
    f = np.fft.fftfreq(n)
    radius = np.hypot(f[:, None], f[None, :])
    filt = np.exp(-((radius * n / scale) ** 2))
    tex = np.real(np.fft.ifft2(np.fft.fft2(white) * filt))
    tex -= tex.min()
    return tex / max(tex.max(), 1e-9)


def _pattern(
    rng: np.random.Generator, kind: str, n: int, c1: np.ndarray, c2: np.ndarray, yy: np.ndarray, xx: np.ndarray
) -> np.ndarray:
    """An (n, n, 3) fill: flat c1, a grating between c1 and c2, or a noise texture."""
    if kind == "flat":
        return np.broadcast_to(c1, (n, n, 3)).copy()
    if kind == "grating":
        theta = rng.uniform(0, np.pi)
        freq = rng.uniform(2.0, 10.0) / n
        phase = rng.uniform(0, 2 * np.pi)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    elif kind == "gradient":
        theta = rng.uniform(0, 2 * np.pi)
        t = (xx * np.cos(theta) + yy * np.sin(theta)) / n
        t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    else:
        t = _noise_texture(rng, n, rng.uniform(3.0, 12.0))
    return c1 * (1 - t[..., None]) + c2 * t[..., None]


def _shape_mask(
    kind: str, n: int, cx: float, cy: float, r: float, theta: float, yy: np.ndarray, xx: np.ndarray
) -> np.ndarray:
    """A soft (1 px edge) mask in [0, 1] for one shape of radius ``r`` pixels."""
    u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
    v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
    if kind == "disc":
        inside = r - np.hypot(u, v)
    elif kind == "ring":
        d = np.hypot(u, v)
        inside = np.minimum(r - d, d - 0.55 * r)
    elif kind == "square":
        inside = 0.8 * r - np.maximum(np.abs(u), np.abs(v))
    elif kind == "bar":
        inside = np.minimum(1.2 * r - np.abs(u), 0.28 * r - np.abs(v))
    else:  # triangle: three half-planes of an equilateral triangle
        angles = np.array([np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3])
        inside = np.min([0.5 * r - (u * np.cos(a) + v * np.sin(a)) for a in angles], axis=0)
    return np.clip(inside + 0.5, 0.0, 1.0)


def _category_style(rng: np.random.Generator) -> dict:
    n_shapes_pref = int(rng.integers(1, 4))
    return {
        "hues": rng.uniform(0, 1, size=3).tolist(),
        "saturation": float(rng.uniform(0.3, 1.0)),
        "background": str(rng.choice(_BACKGROUNDS)),
        "bg_value": float(rng.uniform(0.1, 0.9)),
        "shapes": [str(s) for s in rng.choice(_SHAPES, size=2, replace=False)],
        "fill": str(rng.choice(_FILLS)),
        "n_shapes": n_shapes_pref,
        "centre": rng.uniform(0.3, 0.7, size=2).tolist(),
    }


def _render_image(rng: np.random.Generator, style: dict, n: int, drawn: list | None = None) -> np.ndarray:
    """Render one image of a category ``style`` as uint8 (n, n, 3).

    ``drawn``, when a list, gets one ``{"kind", "cx", "cy", "r"}`` per shape (pixels, in
    drawing order; later shapes occlude earlier ones). Recording draws no random numbers,
    so the image is the same with or without it.
    """
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    hues = style["hues"]
    sat = style["saturation"]

    def colour(i: int) -> np.ndarray:
        return _hsv_to_rgb(hues[i % 3] + rng.normal(0, 0.04), sat + rng.normal(0, 0.1), rng.uniform(0.35, 1.0))

    bg_v = style["bg_value"]
    c1 = _hsv_to_rgb(hues[2] + rng.normal(0, 0.05), 0.5 * sat, bg_v + rng.normal(0, 0.08))
    c2 = _hsv_to_rgb(hues[1] + rng.normal(0, 0.05), 0.6 * sat, 1.0 - bg_v + rng.normal(0, 0.08))
    img = _pattern(rng, style["background"], n, c1, c2, yy, xx)
    n_shapes = int(np.clip(style["n_shapes"] + rng.integers(-1, 2), 1, 3))
    for i in range(n_shapes):
        kind = style["shapes"][i % 2] if rng.uniform() < 0.8 else str(rng.choice(_SHAPES))
        centre = np.asarray(style["centre"]) + rng.normal(0, 0.18, size=2)
        cx, cy = np.clip(centre, 0.1, 0.9) * n
        r = rng.uniform(0.1, 0.3) * n / (1 + 0.3 * i)
        mask = _shape_mask(kind, n, cx, cy, r, rng.uniform(0, np.pi), yy, xx)
        if drawn is not None:
            drawn.append({"kind": kind, "cx": float(cx), "cy": float(cy), "r": float(r)})
        fill = style["fill"] if rng.uniform() < 0.7 else str(rng.choice(_FILLS))
        fg = _pattern(rng, fill, n, colour(i), colour(i + 1), yy, xx)
        img = img * (1 - mask[..., None]) + fg * mask[..., None]
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def _make_stimuli(preset: SizePreset, seed: int, progress=None) -> tuple[list[dict], np.ndarray]:
    """Return (stimulus rows, uint8 images) for training then test images.

    Names mimic ImageNet (``n<8 digits>_<image no>``) but use wnids >= 90000000, which
    ImageNet does not, so a synthetic stimulus can never be taken for a real one.
    """
    rng = _rng(seed, 1)
    n_train_cat = math.ceil(preset.n_train / preset.images_per_category)
    n_cat = n_train_cat + preset.n_test
    wnids = rng.choice(np.arange(90_000_000, 99_999_999), size=n_cat, replace=False)
    styles = [_category_style(rng) for _ in range(n_cat)]
    rows: list[dict] = []
    images: list[np.ndarray] = []
    jobs: list[tuple[int, int]] = []
    task = progress.add_task("stimulus images", total=preset.n_train + preset.n_test) if progress else None
    for split, count in (("train", preset.n_train), ("test", preset.n_test)):
        for idx in range(1, count + 1):
            if split == "train":
                cat = (idx - 1) // preset.images_per_category + 1
                cat_pos = cat - 1
            else:
                cat = idx  # one test image per category; category_index == image_index as in ds001506
                cat_pos = n_train_cat + idx - 1
            image_no = int(rng.integers(1, 50_000))
            wnid = int(wnids[cat_pos])
            rows.append(
                {
                    "split": split,
                    "image_index": idx,
                    "category_index": cat,
                    "stimulus_name": f"n{wnid:08d}_{image_no}",
                    "stimulus_id": f"{wnid}.{image_no:06d}",
                    "background": styles[cat_pos]["background"],
                    "shapes": "+".join(styles[cat_pos]["shapes"]),
                    "fill": styles[cat_pos]["fill"],
                }
            )
            jobs.append((cat_pos, idx))

    def render(job: tuple[int, int]) -> np.ndarray:
        # Each image has its own random stream, so rendering order does not matter.
        return _render_image(_rng(seed, 2, *job), styles[job[0]], preset.image_px)

    # numpy releases the GIL in its array loops: two threads render about 1.5x faster.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for img in pool.map(render, jobs):
            images.append(img)
            if task is not None:
                progress.advance(task)
    # Guard against a name collision (same wnid and image_no) inside one split.
    names = [r["stimulus_name"] for r in rows]
    if len(set(names)) != len(names):  # pragma: no cover - astronomically unlikely
        raise RuntimeError("duplicate stimulus names; choose another seed")
    return rows, np.stack(images)
