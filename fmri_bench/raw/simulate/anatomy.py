"""One simulated subject: a cortical sheet on an occipital slab, retinotopy, tuning, HRFs, noise levels.

Everything here is drawn from the subject's own random streams; the equations and values
are in the :mod:`fmri_bench.raw.simulate` docstring (section 2) and :class:`ModelParams`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fmri_bench.raw.simulate.config import (
    AREA_OF,
    EARLY_AREAS,
    EARLY_ROIS,
    HIGHER_CHANNELS,
    ROIS,
    STREAM_ANATOMY,
    STREAM_BASELINE,
    STREAM_HRF,
    STREAM_NOISE_PARAMS,
    STREAM_RETINOTOPY,
    STREAM_TUNING,
    ModelParams,
    _rng,
)


def smooth_field(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """A unit-variance smooth Gaussian random field (white noise filtered by a Gaussian).

    Parameters
    ----------
    shape : tuple of int
        The field's shape.
    sigma : float
        The Gaussian's sd, in voxels.
    rng : numpy.random.Generator
        The random stream.

    Returns
    -------
    ndarray, float64
    """
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return f / f.std()


def _slab_coordinates(grid: tuple[int, int, int], margin: int) -> tuple[tuple[int, int, int], np.ndarray]:
    """The slab's size inside ``margin`` voxels of empty field of view, and grid indices relative to it."""
    inner = tuple(int(n) - 2 * margin for n in grid)
    if min(inner) < 4:
        raise ValueError(f"grid {grid} leaves no slab inside a margin of {margin} voxels")
    return inner, np.indices(grid).astype(np.float64) - margin


def brain_mask(grid: tuple[int, int, int], margin: int = 0) -> np.ndarray:
    """The posterior cap of a superellipsoid: the occipital pole at y = 0, cut at the front of the slab.

    Parameters
    ----------
    grid : tuple of int
        (nx, ny, nz): x left to right, y posterior to anterior, z inferior to superior.
    margin : int
        Voxels of field of view left empty around the slab on every side (head motion then
        keeps the brain in view, as a real EPI's field of view does).

    Returns
    -------
    ndarray, bool
    """
    (nx, ny, nz), (x, y, z) = _slab_coordinates(grid, margin)
    t = (
        (np.abs(x - (nx - 1) / 2) / (nx / 2)) ** 4
        + (np.abs(y - (ny - 0.5)) / ny) ** 4
        + (np.abs(z - (nz - 1) / 2) / (nz / 2)) ** 4
    )
    inside = (x >= 0) & (x <= nx - 1) & (y >= 0) & (y <= ny - 1) & (z >= 0) & (z <= nz - 1)
    return (t <= 1.0) & inside  # the slab is cut at its front face, also inside a margin


def _early_bands(label: np.ndarray, u: np.ndarray, early: np.ndarray, dz: np.ndarray, widths: dict) -> None:
    """Label V1|V2|V3 on both sides of the calcarine and hV4 ventrally; ``u`` = position across a band."""
    edges = np.cumsum([0.0, widths["V1"], widths["V2"], widths["V3"]])
    ad = np.abs(dz)
    for k, (d_name, v_name) in enumerate((("V1d", "V1v"), ("V2d", "V2v"), ("V3d", "V3v"))):
        sel = early & (ad >= edges[k]) & (ad < edges[k + 1])
        label[sel & (dz >= 0)] = ROIS.index(d_name)
        label[sel & (dz < 0)] = ROIS.index(v_name)
        u[sel] = (ad[sel] - edges[k]) / (edges[k + 1] - edges[k])
    sel = early & (dz < 0) & (ad >= edges[3]) & (ad < edges[3] + widths["hV4"])
    label[sel] = ROIS.index("hV4")
    u[sel] = (ad[sel] - edges[3]) / widths["hV4"]


def make_anatomy(grid: tuple[int, int, int], seed: int, subject: int, margin: int = 0) -> dict[str, np.ndarray]:
    """ROI labels of one subject on the slab, and the cortical-map coordinates of each voxel.

    The slab is read as a cortical sheet: ``y`` is the eccentricity axis of V1-V3/hV4
    (occipital pole = fovea), the signed distance ``dz`` from a curved calcarine line is
    the polar-angle axis. LOC (dorsal), FFA (ventral lateral), PPA (ventral medial) and an
    HVC-only band lie in front. A smooth random warp per subject bends every border; band
    widths and the early/higher border differ across subjects, and so do voxel counts.

    Parameters
    ----------
    grid : tuple of int
        The mask grid.
    seed, subject : int
        The dataset seed and the subject number.
    margin : int
        Empty field of view around the slab (see :func:`brain_mask`).

    Returns
    -------
    dict
        ``brain`` (bool), ``label`` (index into ROIS, -1 = none), ``hemi`` (0 = LH, low x),
        ``u`` (position across a band), ``yw`` (warped y), ``y_early`` (float), ``dz``.
    """
    rng = _rng(seed, STREAM_ANATOMY, subject)
    (nx, ny, nz), (x, y, z) = _slab_coordinates(grid, margin)
    brain = brain_mask(grid, margin)
    cx = (nx - 1) / 2.0
    yw = y + 0.8 * smooth_field(grid, 3.0, rng)
    zw = z + 0.8 * smooth_field(grid, 3.0, rng)
    y_early = ny * rng.uniform(0.58, 0.68)
    z0 = (nz - 1) / 2.0 + rng.normal(0, 0.6)
    tilt, bend = rng.normal(0, 0.08), rng.normal(0, 0.8)
    dz = zw - (z0 + tilt * (yw - y_early / 2) + bend * np.sin(np.pi * yw / max(y_early, 1.0)))  # > 0: dorsal
    widths = {
        k: rng.uniform(*r) for k, r in zip(("V1", "V2", "V3", "hV4"), ((1.8, 2.6), (1.5, 2.2), (1.3, 2.0), (1.5, 2.3)))
    }
    core = (
        (np.abs(x - cx) / (nx * 0.22)) ** 2
        + (np.abs(y - (ny - 0.5)) / (ny * 0.62)) ** 2
        + (np.abs(z - (nz - 1) / 2) / (nz * 0.25)) ** 2
    )  # a "white matter" core: no ROI
    ribbon = brain & (np.abs(x - cx) >= 1.0) & (core > 1.0) & (y >= 0.5)
    label = np.full(grid, -1, dtype=np.int64)
    u = np.full(grid, np.nan)
    _early_bands(label, u, ribbon & (yw < y_early), dz, widths)
    higher = ribbon & (yw >= y_early + 0.5)
    lateral = np.abs(x - cx) > nx * rng.uniform(0.22, 0.3)
    band = (yw - y_early) / max(ny - y_early, 1.0)
    hv = higher & (band < 0.75)
    label[hv & (dz >= 0)] = ROIS.index("LOC")
    label[hv & (dz < 0) & lateral] = ROIS.index("FFA")
    label[hv & (dz < 0) & ~lateral] = ROIS.index("PPA")
    label[higher & (band >= 0.75)] = ROIS.index("HVC")
    hemi = (x > cx).astype(np.int64)
    return {"brain": brain, "label": label, "hemi": hemi, "u": u, "yw": yw, "y_early": y_early, "dz": dz}


@dataclass
class Subject:
    """One simulated subject; per-voxel arrays follow ``roi_index`` (flat C-order indices of the grid).

    Attributes
    ----------
    index : int
        The subject number.
    grid : tuple of int
        The mask (T1w) grid.
    brain, label, hemi : ndarray
        Grid-shaped: brain mask, ROI label (index into ROIS, -1 = none), hemisphere (0 = LH).
    roi_index, roi, area : ndarray
        The visual voxels: flat index, ROI label, visual area.
    ecc, angle : ndarray
        pRF eccentricity (deg) and polar angle (deg; 0 = right horizontal meridian, 90 = up).
    prf_x, prf_y, prf_sigma : ndarray
        pRF centre and size in image units (x to the right, y downwards, 1 = the image's side).
    """

    index: int
    grid: tuple[int, int, int]
    brain: np.ndarray
    label: np.ndarray
    hemi: np.ndarray
    roi_index: np.ndarray
    roi: np.ndarray
    area: np.ndarray
    ecc: np.ndarray
    angle: np.ndarray
    prf_x: np.ndarray
    prf_y: np.ndarray
    prf_sigma: np.ndarray
    tuning: dict = field(default_factory=dict)
    norm: dict = field(default_factory=dict)
    amp: np.ndarray | None = None
    hrf_peak: np.ndarray | None = None
    brain_index: np.ndarray | None = None  # flat indices of the brain voxels
    roi_in_brain: np.ndarray | None = None  # position of each ROI voxel in brain_index
    noise_sd: np.ndarray | None = None  # per brain voxel, percent per volume
    global_loading: np.ndarray | None = None  # per brain voxel
    baseline: np.ndarray | None = None  # grid-shaped image intensity (the static head image)

    @property
    def n_voxels(self) -> int:
        """The number of visual (ROI) voxels."""
        return len(self.roi_index)


def _polar_angle(roi: str, u: np.ndarray) -> np.ndarray:
    """Polar angle (deg, contralateral hemifield, +90 = upper vertical meridian) across a band.

    V1: horizontal meridian (u = 0) to vertical; V2: vertical to horizontal; V3: horizontal to
    vertical; hV4: upper to lower vertical meridian. Dorsal bands map the lower field.
    """
    if roi.startswith(("V1", "V3")):
        a = 90.0 * u
    elif roi.startswith("V2"):
        a = 90.0 * (1.0 - u)
    else:
        return 90.0 - 150.0 * u
    return -a if roi.endswith("d") else a


def _retinotopy(anat: dict, roi: np.ndarray, area: np.ndarray, idx: np.ndarray, params: ModelParams, rng):
    """(eccentricity, polar angle, pRF sigma) in degrees for every ROI voxel."""
    n = len(idx)
    ecc, angle, sigma = np.zeros(n), np.zeros(n), np.zeros(n)
    early = np.isin(roi, EARLY_ROIS)
    ecc_max = rng.uniform(*params.ecc_max_deg)
    a_scale = anat["y_early"] / math.log(1 + ecc_max / params.ecc_b_deg)
    d = np.clip(anat["yw"].reshape(-1)[idx][early], 0.0, None) + rng.uniform(-0.5, 0.5, early.sum())
    ecc[early] = params.ecc_b_deg * (np.exp(np.clip(d, 0, None) / a_scale) - 1.0) + 0.05
    u = anat["u"].reshape(-1)[idx]
    for r in EARLY_ROIS:
        m = roi == r
        if m.any():
            angle[m] = _polar_angle(r, np.clip(u[m] + rng.normal(0, 0.08, m.sum()), 0, 1))
    for a in EARLY_AREAS:
        m = area == a
        jitter = np.exp(rng.normal(0, params.prf_jitter, m.sum()))
        sigma[m] = (params.prf_offset[a] + params.prf_slope[a] * ecc[m]) * jitter
    for a in ("LOC", "FFA", "PPA", "HVC"):
        m = area == a
        k = int(m.sum())
        if k:
            ecc[m] = rng.rayleigh(params.higher_ecc_scale[a], k)
            contra = rng.uniform(size=k) < params.higher_contra
            ang = rng.uniform(-90, 90, k)
            angle[m] = np.where(contra, ang, 180.0 - ang)  # ipsilateral: mirrored into the other hemifield
            sigma[m] = (params.higher_sigma_base[a] + 0.5 * ecc[m]) * np.exp(rng.normal(0, 0.2, k))
    return ecc, angle, sigma


def make_subject(grid: tuple[int, int, int], params: ModelParams, seed: int, subject: int, margin: int = 0) -> Subject:
    """Draw one subject: anatomy, retinotopy (pRFs), tuning, gains, HRFs, noise levels, head image.

    Parameters
    ----------
    grid : tuple of int
        The mask grid.
    params : ModelParams
        The model parameters.
    seed, subject : int
        The dataset seed and the subject number (its own random streams).
    margin : int
        Empty field of view around the slab (see :func:`brain_mask`).

    Returns
    -------
    Subject
    """
    anat = make_anatomy(grid, seed, subject, margin)
    flat = anat["label"].reshape(-1)
    roi_index = np.flatnonzero(flat >= 0)
    roi = np.array([ROIS[i] for i in flat[roi_index]])
    area = np.array([AREA_OF[r] for r in roi])
    hemi = anat["hemi"].reshape(-1)[roi_index]
    rng = _rng(seed, STREAM_RETINOTOPY, subject)
    ecc, angle, sigma_deg = _retinotopy(anat, roi, area, roi_index, params, rng)
    side = np.where(hemi == 0, 1.0, -1.0)  # LH sees the right hemifield
    x_deg = side * ecc * np.cos(np.deg2rad(angle))
    y_deg = ecc * np.sin(np.deg2rad(angle))
    subj = Subject(
        index=subject, grid=tuple(grid), brain=anat["brain"], label=anat["label"], hemi=anat["hemi"],
        roi_index=roi_index, roi=roi, area=area, ecc=ecc, angle=angle,
        prf_x=0.5 + x_deg / params.fov_deg, prf_y=0.5 - y_deg / params.fov_deg, prf_sigma=sigma_deg / params.fov_deg,
    )  # fmt: skip
    _draw_tuning(subj, params, seed)
    _draw_haemodynamics_and_noise(subj, params, seed)
    return subj


def _early_tuning(subj: Subject, params: ModelParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (V, 3S) on the orientation harmonics (A_s, C_s, S_s), and the preferred SF (cpi).

    ``t_v[s, o] = w_v[s] (1 + kappa_v cos 2(theta_o - phi_v)) / Z_v`` with a 1-octave Gaussian SF
    tuning ``w_v`` around a preferred SF that falls with eccentricity, weak orientation tuning
    ``kappa ~ U(0, 0.5)``, radially biased for ``radial_bias`` of the voxels.
    """
    n_sf, n_or = len(params.gabor_sf_cpi), params.n_orient
    log_sf = np.log2(np.asarray(params.gabor_sf_cpi))
    coef = np.zeros((subj.n_voxels, n_sf, 3))
    sf_pref = np.full(subj.n_voxels, np.nan)
    hemi = subj.hemi.reshape(-1)[subj.roi_index]
    for a in EARLY_AREAS:
        m = subj.area == a
        k = int(m.sum())
        if not k:
            continue
        cpd = params.sf_area_factor[a] / (0.15 * subj.ecc[m] + 0.17)
        pref = np.log2(cpd * params.fov_deg) + rng.normal(0, params.sf_pref_jitter_oct, k)
        sf_pref[m] = 2.0**pref
        w_sf = np.exp(-0.5 * ((log_sf[None, :] - pref[:, None]) / params.sf_tuning_oct) ** 2)
        w_sf /= n_or * w_sf.sum(axis=1, keepdims=True)
        kappa = rng.uniform(0, params.orient_kappa_max, k)
        side = np.where(hemi[m] == 0, 1.0, -1.0)
        rad = np.deg2rad(subj.angle[m])
        radial = np.arctan2(-np.sin(rad), side * np.cos(rad))  # the pRF's polar angle, image y down
        phi = np.where(
            rng.uniform(size=k) < params.radial_bias,
            np.mod(radial + rng.normal(0, 0.3, k), np.pi),
            rng.uniform(0, np.pi, k),
        )
        coef[m, :, 0] = w_sf
        coef[m, :, 1] = w_sf * (kappa * np.cos(2 * phi))[:, None]
        coef[m, :, 2] = w_sf * (kappa * np.sin(2 * phi))[:, None]
    return coef.reshape(subj.n_voxels, 3 * n_sf), sf_pref


#: Dirichlet concentrations of the higher areas' tuning over HIGHER_CHANNELS: LOC contours,
#: junctions and curvature; FFA curvature and colour; PPA coarse layout and fine texture.
HIGHER_TUNING = {
    "LOC": (0.5, 1.2, 1.2, 1.2, 1.2, 1.5, 1.5, 0.3, 0.3, 0.4, 0.4, 0.4, 0.4, 0.4),
    "FFA": (0.4, 0.8, 0.8, 0.8, 0.8, 1.0, 2.0, 0.8, 0.8, 0.3, 0.3, 0.3, 0.3, 0.3),
    "PPA": (0.6, 0.4, 0.4, 0.4, 0.4, 0.5, 0.4, 0.8, 0.6, 1.5, 1.5, 1.5, 1.5, 1.5),
    "HVC": (0.8,) * len(HIGHER_CHANNELS),
}


def _specific_fields(subj: Subject, params: ModelParams, n_coef: int, rng: np.random.Generator) -> np.ndarray:
    """Coefficients (V, K, 2, n_coef) of the subject-specific bilinear terms: smooth fields over cortex."""
    out = np.empty((subj.n_voxels, params.specific_terms, 2, n_coef))
    for k in range(params.specific_terms):
        for j in range(2):
            for c in range(n_coef):
                if params.specific_smooth_vox > 0:
                    out[:, k, j, c] = smooth_field(subj.grid, params.specific_smooth_vox, rng).reshape(-1)[
                        subj.roi_index
                    ]
                else:
                    out[:, k, j, c] = rng.standard_normal(subj.n_voxels)
    return out


def _draw_tuning(subj: Subject, params: ModelParams, seed: int) -> None:
    """SF/orientation tuning, first-order weights, higher-area tuning, subject-specific terms, gains."""
    rng = _rng(seed, STREAM_TUNING, subj.index)
    t_early, sf_pref = _early_tuning(subj, params, rng)
    higher_fo = np.isin(subj.area, ("hV4", "FFA", "PPA"))[:, None]
    w_first = rng.normal(0, 1, (subj.n_voxels, 3)) * np.where(higher_fo, [1.0, 1.1, 0.9], [1.0, 0.8, 0.6])
    t_higher = np.zeros((subj.n_voxels, len(HIGHER_CHANNELS)))
    for a, conc in HIGHER_TUNING.items():
        m = subj.area == a
        if m.any():
            t_higher[m] = rng.dirichlet(np.asarray(conc), size=int(m.sum()))
    q_early = _specific_fields(subj, params, 3 * len(params.gabor_sf_cpi) + 3, rng)
    q_higher = _specific_fields(subj, params, len(HIGHER_CHANNELS) + 3, rng)
    subj.amp = np.array([params.amp_pct[a] for a in subj.area]) * np.exp(
        rng.normal(0, params.amp_jitter, subj.n_voxels)
    )
    subj.tuning = {
        "early": t_early.astype(np.float32),
        "sf_pref_cpi": sf_pref,
        "first": w_first,
        "higher": t_higher.astype(np.float32),
        "q_early": q_early,
        "q_higher": q_higher,
        "exponent": np.array([params.exponent[a] for a in subj.area]),
        "first_share": np.array([params.first_order_share[a] for a in subj.area]),
    }


def _draw_haemodynamics_and_noise(subj: Subject, params: ModelParams, seed: int) -> None:
    """Per-voxel HRF peaks (spatially smooth), noise levels, global-signal loadings, the head image."""
    rng = _rng(seed, STREAM_HRF, subj.index)
    smooth = smooth_field(subj.grid, 3.0, rng).reshape(-1)[subj.roi_index]
    peak = params.hrf_peak_mean + params.hrf_peak_smooth_sd * smooth
    subj.hrf_peak = np.clip(peak + rng.normal(0, params.hrf_peak_voxel_sd, subj.n_voxels), *params.hrf_peak_range)
    rng = _rng(seed, STREAM_NOISE_PARAMS, subj.index)
    subj.brain_index = np.flatnonzero(subj.brain.reshape(-1))
    n_brain = len(subj.brain_index)
    subj.noise_sd = params.noise_pct * np.exp(rng.normal(0, params.noise_jitter, n_brain))
    subj.global_loading = 1.0 + params.global_loading_sd * rng.standard_normal(n_brain)
    pos = np.full(int(np.prod(subj.grid)), -1)
    pos[subj.brain_index] = np.arange(n_brain)
    subj.roi_in_brain = pos[subj.roi_index]
    subj.baseline = head_image(subj.brain, _rng(seed, STREAM_BASELINE, subj.index))


def head_image(brain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The static image intensity: smooth tissue contrast, brain about 1000, the rest of the slab about 700.

    Smooth (a Gaussian of 0.8 voxel over the tissue boundary, a 1.5-voxel field of 8 %), so
    that head motion gives the intensity changes it gives in real EPI without making the
    first-order motion model of :mod:`fmri_bench.raw.simulate.motion` inaccurate.

    Parameters
    ----------
    brain : ndarray, bool
        The brain mask.
    rng : numpy.random.Generator
        The subject's baseline stream.

    Returns
    -------
    ndarray, float32, grid-shaped
    """
    from scipy.ndimage import gaussian_filter

    tissue = gaussian_filter(np.where(brain, 1000.0, 700.0), 0.8, mode="nearest")
    return (tissue * np.exp(0.08 * smooth_field(brain.shape, 1.5, rng))).astype(np.float32)
