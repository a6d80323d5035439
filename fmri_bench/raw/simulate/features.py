"""Stimulus-computable features: a Gabor wavelet pyramid, normalization, first- and higher-order maps.

Written in numpy/scipy with FFTs rather than with pymoten: the ground truth needs each
filter's energy at every position (to be pooled by arbitrary pRFs), which FFT convolution
gives for 5 SFs x 8 orientations of 650 images in about 8 s of one core (measured), while
pymoten projects each filter as a dense dot product at sparsely tiled positions (71-77 CPU s
for 1,600 images of 64 px on Kay's tiling), handles luminance only, and would add opencv
to the dependencies. pymoten serves instead as the analyst's independent feature space in
``bench/calibrate_simulate.py`` (Kay et al. 2008's identification).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fmri_bench.raw.simulate.config import ModelParams


def _block_mean(x: np.ndarray, factor: int) -> np.ndarray:
    """Average non-overlapping ``factor x factor`` blocks over the last two axes."""
    if factor == 1:
        return x
    *lead, h, w = x.shape
    return x.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))


def _gabor_bank(n: int, sf_cpi: float, size_cpi: float, thetas: np.ndarray, bw_oct: float) -> np.ndarray:
    """One-sided (analytic) Gaussian filters in the 2-d Fourier domain, (O, n, n) complex64.

    The inverse FFT of ``F * G`` is ``even + i odd`` of a quadrature pair of Gabor wavelets of
    peak frequency ``sf_cpi`` (cycles per image) and orientation ``theta``; its modulus is the
    complex-cell energy (Adelson & Bergen 1985). ``size_cpi`` converts FFT bins to cycles per image.
    """
    f = np.fft.fftfreq(n) * n / size_cpi
    fx, fy = f[None, :], f[:, None]
    sig = sf_cpi * (2 ** (bw_oct / 2) - 2 ** (-bw_oct / 2)) / (2 * math.sqrt(2 * math.log(2)))
    out = np.empty((len(thetas), n, n), dtype=np.complex64)
    for k, th in enumerate(thetas):
        u0, v0 = sf_cpi * math.cos(th), sf_cpi * math.sin(th)
        out[k] = np.exp(-((fx - u0) ** 2 + (fy - v0) ** 2) / (2 * sig**2))
    return out


def _padding(size: int, sf_cpi: float, bw_oct: float) -> int:
    """Grey padding (pixels each side) of 3 envelope sds of a filter (the screen around the image), to a fast FFT size."""
    import scipy.fft

    sig_f = sf_cpi * (2 ** (bw_oct / 2) - 2 ** (-bw_oct / 2)) / 2.3548
    pad = int(math.ceil(3 * size / (2 * math.pi * sig_f)))
    return (scipy.fft.next_fast_len(size + 2 * pad) - size + 1) // 2


def _levels(params: ModelParams, px: int) -> list[tuple[int, int, list[int]]]:
    """(image size, padding, SF indices) per FFT: >= 4 px per cycle, never below the pooling grid, one per SF."""
    out = []
    for s_idx, sf in enumerate(params.gabor_sf_cpi):
        size = int(min(px, max(params.pool_grid, 2 ** math.ceil(math.log2(4 * sf)))))
        out.append((size, _padding(size, sf, params.gabor_bw_oct), [s_idx]))
    return sorted(out, reverse=True)


def _energy_at_level(img: np.ndarray, size: int, pad: int, banks: list[np.ndarray], grid: int) -> list[np.ndarray]:
    """Energy maps of grey-centred images (n, size, size) for each filter bank, on the pooling grid."""
    import scipy.fft

    padded = np.zeros((img.shape[0], size + 2 * pad, size + 2 * pad), dtype=np.complex64)
    padded[:, pad : pad + size, pad : pad + size] = img
    spec = scipy.fft.fft2(padded, axes=(1, 2), overwrite_x=True)
    buffer = np.empty_like(spec)
    outs = []
    for bank in banks:
        e = np.empty((img.shape[0], bank.shape[0], grid, grid), dtype=np.float32)
        for o in range(bank.shape[0]):
            np.multiply(spec, bank[o][None], out=buffer)
            resp = scipy.fft.ifft2(buffer, axes=(1, 2), overwrite_x=True)
            e[:, o] = _block_mean(np.abs(resp[:, pad : pad + size, pad : pad + size]), size // grid)
        outs.append(e)
    return outs


def _chunk_features(images: np.ndarray, params: ModelParams, plan: list, banks: dict) -> dict[str, np.ndarray]:
    """:func:`image_features` of one chunk of images."""
    px, grid = images.shape[1], params.pool_grid
    rgb = images.astype(np.float32) / 255.0
    lum = rgb.mean(axis=-1) - 0.5
    rg = rgb[..., 0] - rgb[..., 1]
    by = rgb[..., 2] - 0.5 * (rgb[..., 0] + rgb[..., 1])
    first = np.stack([_block_mean(c, px // grid) for c in (lum, rg, by)], axis=1)
    energy = np.empty((len(images), len(params.gabor_sf_cpi), params.n_orient, grid, grid), dtype=np.float32)
    for size, pad, idx in plan:
        for i, m in zip(idx, _energy_at_level(_block_mean(lum, px // size), size, pad, banks[size, pad], grid)):
            energy[:, i] = m
    size, pad = banks["chroma_level"]
    chroma = sum(
        _energy_at_level(_block_mean(c, px // size), size, pad, [banks["chroma"]], grid)[0].sum(axis=1)
        for c in (rg, by)
    )
    return {"energy": energy, "first": first.astype(np.float32), "chroma_energy": chroma.astype(np.float32)}


def image_features(images: np.ndarray, params: ModelParams, *, chunk: int = 64, threads: int = 2) -> dict:
    """Stimulus-computable feature maps of uint8 RGB images on the ``pool_grid`` grid.

    Chunks of images run in ``threads`` threads (scipy's FFTs release the GIL); every image
    is computed alone, so the result does not depend on the threading.

    Parameters
    ----------
    images : ndarray, uint8, shape (n, px, px, 3)
        The stimuli (``px`` a multiple of the pooling grid, at least 64).
    params : ModelParams
        The feature-bank parameters.
    chunk : int
        Images per FFT batch.
    threads : int
        Worker threads.

    Returns
    -------
    dict of ndarray (float32, G x G maps, x to the right, y downwards)
        ``energy`` (n, S, O, G, G): complex-cell Gabor energy ``|L * g_{s,o}|`` of the
        grey-centred luminance ``L = (R + G + B) / 3 - 0.5``, averaged within each grid cell;
        ``first`` (n, 3, G, G): the block means of ``L``, ``R - G``, ``B - (R + G) / 2``;
        ``chroma_energy`` (n, G, G): Gabor energy of ``R - G`` and ``B - (R + G) / 2`` at
        8 cpi, summed over orientations and the two channels.
    """
    images = np.asarray(images)
    px = images.shape[1]
    thetas = np.arange(params.n_orient) * np.pi / params.n_orient
    plan = _levels(params, px)
    banks: dict = {
        (size, pad): [
            _gabor_bank(size + 2 * pad, params.gabor_sf_cpi[i], (size + 2 * pad) / size, thetas, params.gabor_bw_oct)
            for i in idx
        ]
        for size, pad, idx in plan
    }
    size = int(min(px, max(params.pool_grid, 32)))  # 8 cpi at >= 4 px per cycle
    pad = _padding(size, 8.0, params.gabor_bw_oct)
    banks["chroma_level"] = (size, pad)
    banks["chroma"] = _gabor_bank(size + 2 * pad, 8.0, (size + 2 * pad) / size, thetas, params.gabor_bw_oct)
    parts = [images[i : i + chunk] for i in range(0, len(images), chunk)]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        done = list(pool.map(lambda part: _chunk_features(part, params, plan, banks), parts))
    return {key: np.concatenate([d[key] for d in done]) for key in done[0]}


def normalized_energy(feats: dict, norms: dict, params: ModelParams) -> np.ndarray:
    """Divisively normalized energy ``E_{s,o}(p) / (c m_s + <E_s>_image)`` (n, S, O, G, G).

    ``m_s`` is the training mean energy at SF s, ``<E_s>_image`` this image's mean over
    orientations and positions (an image-wide normalization pool, Heeger 1992), ``c =
    norm_c``: a high-contrast image does not simply drive every voxel.

    Parameters
    ----------
    feats : dict
        :func:`image_features`.
    norms : dict
        ``energy_mean``: the training images' mean energy per SF.
    params : ModelParams
        The model parameters.

    Returns
    -------
    ndarray, float32
    """
    e = feats["energy"]
    m = norms["energy_mean"].astype(np.float32)[None, :, None, None, None]
    return e / (np.float32(params.norm_c) * m + e.mean(axis=(2, 3, 4), keepdims=True))


def feature_maps(feats: dict, n_train: int, params: ModelParams) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The subject-independent maps that the voxels pool (float32, G x G grid), and their constants.

    Every normalization constant comes from the first ``n_train`` images (the training
    images), so adding images never changes the maps of the others.

    Parameters
    ----------
    feats : dict
        :func:`image_features`, training images first.
    n_train : int
        Training images.
    params : ModelParams
        The model parameters.

    Returns
    -------
    maps : dict
        ``early`` (n, 3S, G, G): per SF s, the orientation harmonics of the normalized energy
        ``A_s = sum_o E_so``, ``C_s = sum_o cos(2 theta_o) E_so``, ``S_s = sum_o sin(2 theta_o) E_so``
        (a voxel's orientation tuning ``1 + kappa cos 2(theta - phi)`` needs only these);
        ``first`` (n, 3, G, G): first-order maps with a centre-surround profile ``F - k (g_sigma * F)``
        (zero, i.e. grey, beyond the image); ``higher`` (n, 14, G, G): :func:`higher_order_maps`
        over their training means.
    norms : dict
        ``energy_mean`` (S,): training mean Gabor energy per SF; ``chroma_mean`` (1,);
        ``higher_mean`` (14,): training mean of each higher-order map.
    """
    from scipy.ndimage import gaussian_filter

    norms = {
        "energy_mean": feats["energy"][:n_train].mean(axis=(0, 2, 3, 4)).astype(np.float64),
        "chroma_mean": np.array([float(feats["chroma_energy"][:n_train].mean())]),
    }
    en = normalized_energy(feats, norms, params)
    higher = higher_order_maps(en, feats, norms, params)
    norms["higher_mean"] = higher[:n_train].mean(axis=(0, 2, 3)).astype(np.float64)
    higher /= norms["higher_mean"][None, :, None, None].astype(np.float32)
    n, s, o, g, _ = en.shape
    th = np.arange(o) * np.pi / o
    harmonics = np.stack([np.ones(o), np.cos(2 * th), np.sin(2 * th)]).astype(np.float32)  # (3, O)
    early = np.moveaxis(np.tensordot(en, harmonics, axes=([2], [1])), -1, 2).reshape(n, 3 * s, g, g)
    sig = params.surround_sigma_deg / params.fov_deg * g
    first = feats["first"]
    first = first - np.float32(params.surround_k) * gaussian_filter(first, (0, 0, sig, sig), mode="constant")
    maps = {"early": early, "first": first, "higher": higher}
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in maps.items()}, norms


def higher_order_maps(energy: np.ndarray, feats: dict, norms: dict, params: ModelParams) -> np.ndarray:
    """Higher-order feature maps (n, 14, G, G) for LOC, FFA, PPA and HVC (``HIGHER_CHANNELS``).

    With ``E_so`` the normalized energy: edge density ``D`` (mean over 8, 16, 32 cpi and
    orientations); 4 second-order contour energies (Gabor energy at 4 cpi, 0/45/90/135
    deg, of ``D - <D>``: filter-rectify-filter); junctions ``sum_{o<O/2} sqrt(E_{16,o}
    E_{16,o+O/2})``; curvature ``sum_o E_{16,o} - |sum_o E_{16,o} exp(2 i theta_o)|``;
    colourfulness ``sqrt((R-G)^2 + (B-(R+G)/2)^2)``; chromatic edges (8 cpi chromatic energy
    over its training mean); 4 coarse-layout energies (``E_{2 cpi}`` over orientation
    pairs); fine texture (mean over orientations of ``E_{32 cpi}``).

    Parameters
    ----------
    energy : ndarray, shape (n, S, O, G, G)
        :func:`normalized_energy`.
    feats, norms : dict
        :func:`image_features`; ``norms["chroma_mean"]``.
    params : ModelParams
        The model parameters.

    Returns
    -------
    ndarray, float32, shape (n, 14, G, G)
        Not yet divided by their training means.
    """
    e = energy
    n, _, o, g, _ = e.shape
    sfs = list(params.gabor_sf_cpi)
    i2, i8, i16, i32 = (sfs.index(v) for v in (2.0, 8.0, 16.0, 32.0))
    dens = (e[:, i8].mean(1) + e[:, i16].mean(1) + e[:, i32].mean(1)) / 3.0
    bank = _gabor_bank(g + 32, 4.0, (g + 32) / g, np.arange(4) * np.pi / 4, 1.0)
    centred = (dens - dens.mean(axis=(1, 2), keepdims=True)).astype(np.float32)
    contour = _energy_at_level(centred, g, 16, [bank], g)[0]
    junction = np.sqrt(e[:, i16, : o // 2] * e[:, i16, o // 2 :]).sum(1)
    th = np.arange(o) * np.pi / o
    curvature = e[:, i16].sum(1) - np.abs((e[:, i16] * np.exp(2j * th)[None, :, None, None]).sum(1))
    f = feats["first"]
    colourful = np.sqrt(f[:, 1] ** 2 + f[:, 2] ** 2)
    cedge = feats["chroma_energy"] / float(norms["chroma_mean"][0])
    layout = e[:, i2].reshape(n, 4, o // 4, g, g).sum(2)
    fine = e[:, i32].mean(1)
    maps = [dens[:, None], contour, junction[:, None], curvature[:, None], colourful[:, None], cedge[:, None]]
    return np.concatenate([*maps, layout, fine[:, None]], axis=1).astype(np.float32)
