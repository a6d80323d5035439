"""Gallery pictures: targets above their reconstructions, as PNG bytes."""

from __future__ import annotations

import io

import numpy as np

from fmri_bench.images import to_uint8

#: Test images shown in a leaderboard gallery thumbnail.
GALLERY_ITEMS = 8


def grid_png(
    targets: np.ndarray, recons: np.ndarray, *, max_items: int | None = None, thumb: int = 96, per_row: int = 10
) -> bytes:
    """Return PNG bytes of a grid: each cell is a target (top) above its reconstruction (bottom).

    Parameters
    ----------
    targets, recons : ndarray, shape (N, H, W, 3)
        uint8 or float in [0, 1]; each is resized to ``thumb`` px with Pillow (bilinear).
    max_items : int, optional
        Show only the first ones.
    thumb : int
        Side of each thumbnail.
    per_row : int
        Cells per row.

    Returns
    -------
    bytes
    """
    from PIL import Image

    n = len(targets) if max_items is None else min(max_items, len(targets))
    per_row = max(1, min(per_row, n))
    rows = (n + per_row - 1) // per_row
    gap = 4
    width = per_row * (thumb + gap) + gap
    height = rows * (2 * thumb + 3 * gap) + gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    t8, r8 = to_uint8(targets[:n]), to_uint8(recons[:n])
    for i in range(n):
        x = gap + (i % per_row) * (thumb + gap)
        y = gap + (i // per_row) * (2 * thumb + 3 * gap)
        for k, img in enumerate((t8[i], r8[i])):
            tile = Image.fromarray(np.ascontiguousarray(img)).resize((thumb, thumb), Image.BILINEAR)
            canvas.paste(tile, (x, y + k * (thumb + gap)))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def gallery_thumbnail(targets: np.ndarray, recons: np.ndarray) -> bytes:
    """The leaderboard gallery's picture of an entry: the first test images, 64 px thumbnails.

    Parameters
    ----------
    targets, recons : ndarray, shape (N, H, W, 3)

    Returns
    -------
    bytes
    """
    return grid_png(targets, recons, max_items=GALLERY_ITEMS, thumb=64, per_row=GALLERY_ITEMS)
