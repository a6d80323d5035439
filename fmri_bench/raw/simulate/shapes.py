"""DIR's two generalization test sets, rendered: 40 colour shapes and 10 letters.

Shen et al. 2019 (ds001506) showed, besides natural images, "a total of 40 combinations of
5 shapes (filled square, small opened square, large opened square, +, and X) and 8 colors
(red, green, blue, cyan, magenta, yellow, white, and black)" named
``colorExpStim<ID>_<color>_<shape>`` and the letters A, C, E, I, N, O, R, S, T, U named
``letter_black_img<number>_<letter>`` (the dataset's README). Here they are drawn on a
mid-grey screen with the soft (one pixel) edges of the natural-image family
(:mod:`fmri_bench.raw.simulate.stimuli`); letters are black strokes. IDs, names and order
are those of the real events files.
"""

from __future__ import annotations

import numpy as np

_COLOURS = (
    ("red", (1.0, 0.0, 0.0)),
    ("green", (0.0, 1.0, 0.0)),
    ("blue", (0.0, 0.0, 1.0)),
    ("yellow", (1.0, 1.0, 0.0)),
    ("magenta", (1.0, 0.0, 1.0)),
    ("cyan", (0.0, 1.0, 1.0)),
    ("white", (1.0, 1.0, 1.0)),
    ("black", (0.0, 0.0, 0.0)),
)
_SHAPES = ("square", "smallring", "largering", "+", "X")
#: (letter, image number) in image_index order, as in ds001506.
LETTERS = (("A", 11), ("C", 13), ("E", 15), ("I", 19), ("N", 24), ("O", 25), ("R", 28), ("S", 29), ("T", 30), ("U", 31))
GREY = 0.5

# Letter strokes in a unit box (x to the right, y downwards, the glyph in [0.2, 0.8] x [0.2, 0.8]):
# ("line", x0, y0, x1, y1) or ("arc", cx, cy, radius, start_deg, end_deg) (angles clockwise from +x, y down).
_GLYPHS: dict[str, tuple] = {
    "A": (("line", 0.5, 0.2, 0.26, 0.8), ("line", 0.5, 0.2, 0.74, 0.8), ("line", 0.35, 0.58, 0.65, 0.58)),
    "C": (("arc", 0.52, 0.5, 0.3, 40, 320),),
    "E": (("line", 0.3, 0.2, 0.3, 0.8), *(("line", 0.3, y, 0.7, y) for y in (0.2, 0.5, 0.8))),
    "I": (("line", 0.5, 0.2, 0.5, 0.8), ("line", 0.38, 0.2, 0.62, 0.2), ("line", 0.38, 0.8, 0.62, 0.8)),
    "N": (("line", 0.28, 0.8, 0.28, 0.2), ("line", 0.28, 0.2, 0.72, 0.8), ("line", 0.72, 0.8, 0.72, 0.2)),
    "O": (("arc", 0.5, 0.5, 0.3, 0, 360),),
    "R": (
        ("line", 0.3, 0.2, 0.3, 0.8),
        ("line", 0.3, 0.2, 0.52, 0.2),
        ("line", 0.3, 0.5, 0.52, 0.5),
        ("arc", 0.52, 0.35, 0.15, -90, 90),
        ("line", 0.48, 0.5, 0.72, 0.8),
    ),
    "S": (("arc", 0.5, 0.35, 0.15, 90, 330), ("arc", 0.5, 0.65, 0.15, -90, 150)),
    "T": (("line", 0.22, 0.2, 0.78, 0.2), ("line", 0.5, 0.2, 0.5, 0.8)),
    "U": (("line", 0.28, 0.2, 0.28, 0.58), ("line", 0.72, 0.2, 0.72, 0.58), ("arc", 0.5, 0.58, 0.22, 0, 180)),
}


def artificial_rows() -> list[dict]:
    """The 40 colour shapes, in ds001506's image_index order (colour-major, then shape).

    Returns
    -------
    list of dict
        ``split`` ("artificial"), ``image_index``, ``category_index``, ``stimulus_name``,
        ``stimulus_id``, ``colour``, ``shape``.
    """
    rows = []
    for c, (colour, _) in enumerate(_COLOURS):
        for s, shape in enumerate(_SHAPES):
            idx = c * len(_SHAPES) + s + 1
            rows.append(
                {
                    "split": "artificial",
                    "image_index": idx,
                    "category_index": idx,
                    "stimulus_name": f"colorExpStim{idx:02d}_{colour}_{shape}",
                    "stimulus_id": str(idx),
                    "colour": colour,
                    "shape": shape,
                }
            )
    return rows


def letter_rows() -> list[dict]:
    """The 10 letters, in ds001506's image_index order.

    Returns
    -------
    list of dict
        ``split`` ("letter"), ``image_index``, ``category_index``, ``stimulus_name``,
        ``stimulus_id``, ``colour`` ("black"), ``shape`` (the letter).
    """
    return [
        {
            "split": "letter",
            "image_index": i,
            "category_index": i,
            "stimulus_name": f"letter_black_img{number:03d}_{letter}",
            "stimulus_id": str(i),
            "colour": "black",
            "shape": letter,
        }
        for i, (letter, number) in enumerate(LETTERS, start=1)
    ]


def _coords(n: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    return (xx + 0.5) / n, (yy + 0.5) / n


def _soft(inside_px: np.ndarray) -> np.ndarray:
    """A signed distance (pixels, > 0 inside) to a mask with a one-pixel soft edge."""
    return np.clip(inside_px + 0.5, 0.0, 1.0)


def shape_mask(shape: str, n: int) -> np.ndarray:
    """The mask in [0, 1] of one of the 5 artificial shapes, centred, on an n x n image.

    Parameters
    ----------
    shape : str
        ``square`` (filled), ``smallring``/``largering`` (opened squares), ``+`` or ``X``.
    n : int
        Image side in pixels.

    Returns
    -------
    ndarray, float64, shape (n, n)
    """
    x, y = _coords(n)
    u, v = x - 0.5, y - 0.5
    if shape == "X":  # the + turned by 45 degrees
        u, v = (u + v) / np.sqrt(2), (v - u) / np.sqrt(2)
    box = np.maximum(np.abs(u), np.abs(v))
    stroke = 0.06
    if shape == "square":
        inside = 0.22 - box
    elif shape in ("smallring", "largering"):
        half = 0.2 if shape == "smallring" else 0.35
        inside = stroke / 2 - np.abs(box - half)
    else:
        arm = 0.32
        inside = np.maximum(
            np.minimum(stroke / 2 - np.abs(v), arm - np.abs(u)), np.minimum(stroke / 2 - np.abs(u), arm - np.abs(v))
        )
    return _soft(inside * n)


def _segment_distance(x: np.ndarray, y: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(x - x0 - t * dx, y - y0 - t * dy)


def _arc_distance(x: np.ndarray, y: np.ndarray, cx: float, cy: float, r: float, a0: float, a1: float) -> np.ndarray:
    angle = np.degrees(np.arctan2(y - cy, x - cx))
    inside = (np.mod(angle - a0, 360.0) <= (a1 - a0)) | (a1 - a0 >= 360)
    ends = [(cx + r * np.cos(np.radians(a)), cy + r * np.sin(np.radians(a))) for a in (a0, a1)]
    to_end = np.minimum(*[np.hypot(x - ex, y - ey) for ex, ey in ends])
    return np.where(inside, np.abs(np.hypot(x - cx, y - cy) - r), to_end)


def letter_mask(letter: str, n: int) -> np.ndarray:
    """The stroke mask in [0, 1] of one of the 10 letters on an n x n image.

    Parameters
    ----------
    letter : str
        One of A, C, E, I, N, O, R, S, T, U.
    n : int
        Image side in pixels.

    Returns
    -------
    ndarray, float64, shape (n, n)
    """
    x, y = _coords(n)
    dist = np.full(x.shape, np.inf)
    for stroke in _GLYPHS[letter]:
        if stroke[0] == "line":
            dist = np.minimum(dist, _segment_distance(x, y, *stroke[1:]))
        else:
            dist = np.minimum(dist, _arc_distance(x, y, *stroke[1:]))
    return _soft((0.035 - dist) * n)


def render_test_sets(n: int) -> tuple[list[dict], np.ndarray]:
    """The artificial shapes then the letters: their rows and uint8 images (50, n, n, 3).

    Parameters
    ----------
    n : int
        Image side in pixels.

    Returns
    -------
    rows : list of dict
        :func:`artificial_rows` + :func:`letter_rows`.
    images : ndarray, uint8
    """
    colours = dict(_COLOURS)
    images = []
    for row in artificial_rows():
        mask = shape_mask(row["shape"], n)[..., None]
        images.append(GREY * (1 - mask) + np.asarray(colours[row["colour"]]) * mask)
    for row in letter_rows():
        mask = letter_mask(row["shape"], n)[..., None]
        images.append(np.broadcast_to(GREY * (1 - mask), (n, n, 3)))
    stack = np.clip(np.round(np.stack(images) * 255), 0, 255).astype(np.uint8)
    return artificial_rows() + letter_rows(), stack
