"""Synthetic BIDS dataset laid out like OpenNeuro ds001506 1.3.x, with a known, realistic ground truth.

``simulate_dataset(out_dir, size="default", seed=0, motion=None)`` writes a dataset whose file
names, events columns and codes, sidecar keys, ROI mask names and fMRIPrep derivatives are
those of ds001506 ("Deep Image Reconstruction", Shen et al. 2019) and its OpenNeuroDerivatives
fMRIPrep 23.2.1 release, with procedural stimuli and BOLD from the encoding model below.
Everything is a deterministic function of the arguments (single-threaded BLAS while
simulating; independent random streams ``default_rng([seed, stream, ...])``): the same
arguments give byte-identical files. Modules: ``config`` (presets, :class:`ModelParams`),
``stimuli`` (the natural-image family), ``shapes`` (DIR's 40 colour shapes and 10 letters),
``features`` (the Gabor pyramid), ``anatomy`` (one subject), ``model`` (responses, HRF),
``noise``, ``motion``, ``schedule`` (runs and events), ``oracle``, ``writer`` (the BIDS files).

The model (simulator version 3)
-------------------------------
Kay et al. 2008's Gabor-wavelet-pyramid model of early visual cortex with population
receptive fields (Dumoulin & Wandell 2008). Numbers are :class:`ModelParams` fields.

1. **Stimuli.** 128 px RGB spanning 12 deg: the natural-image family (1-3 shapes, gratings
   and textures in category styles; test images are new categories), and DIR's test sets.
2. **Features** (:mod:`.features`, numpy FFTs; why not pymoten: its docstring). Complex-cell
   Gabor energy of the luminance at 2-32 cycles/image x 8 orientations (1-octave bandwidth,
   grey padding, >= 4 px per cycle), averaged on a 32 x 32 grid, divisively normalized by the
   image-wide energy per SF (Heeger 1992); first-order luminance and colour-opponent maps
   with a centre-surround; 14 higher-order maps (edge density, second-order contours,
   junctions, curvature, colourfulness, chromatic edges, coarse layout, fine texture).
3. **Anatomy and retinotopy** (:mod:`.anatomy`). Each subject has its own cortical sheet on
   an occipital slab (2 mm voxels): a curved calcarine, V1-V3 bands on both sides, hV4
   ventrally, LOC, FFA, PPA and an HVC-only band in front, warped by a random field; its
   own eccentricity map (Horton & Hoyt), polar angle across each band, and pRF size
   ``sigma = b + m ecc`` with slopes 0.10, 0.15, 0.27, 0.40 (V1-hV4; Kay et al. 2013).
   LOC/FFA/PPA/HVC have large, foveal, position-tolerant pRFs.
4. **Responses** (:mod:`.model`). V1-hV4: the pRF-pooled normalized energy, tuned to a
   preferred SF falling with eccentricity (Broderick et al. 2022) and weakly (radially
   biased) to orientation, under a compressive exponent 0.5-0.3 (CSS); higher areas: L2
   pooling of the higher-order maps with Dirichlet tuning per area, exponent 0.25. Plus a
   signed first-order term (share 0.5-0.6 in V1-hV4, 0.1-0.15 higher) and a
   **subject-specific** bilinear term of each voxel's own channels, smooth over cortex
   (``subject_share = 0.2`` of the signal variance): subjects differ in maps, tuning,
   gains and HRFs, so functional alignment has real work to do. Block height (percent
   signal change) ``h_v = amp_v (1 + a_v)``; every constant fitted on the training images.
5. **Haemodynamics and noise** (:mod:`.model`, :mod:`.noise`). A double-gamma HRF per voxel
   peaking at 4-7 s (median 5.5 s, spatially smooth); noise 2.6 % per volume in the default
   preset (3.5 % in ``ModelParams``, 1.5 % in ``tiny``; log-normal
   across voxels): 30 % independent AR(1) (rho 0.4), 40 % a Gaussian random field (FWHM
   10 mm) with AR(1) time courses, 30 % one global AR(1) signal with voxel loadings, and a
   slow drift (Legendre 1-2, 3 cosines). Voxels outside the brain get thermal noise only.
6. **Head motion** (:mod:`.motion`). Every session puts the head at its own position (up to
   2 mm and 2 deg per axis), every run adds a small offset, slow drift and jitter (the
   reference volume is the middle one); the BOLD of a run is the head image moved
   accordingly. The true transforms are written beside the raw data as fMRIPrep writes
   them (``derivatives/fmriprep/sub-XX/ses-YY/func/<run>_from-orig_to-boldref_mode-image_desc-hmc_xfm.txt``,
   ``..._from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt``, ``..._desc-{hmc,coreg}_boldref.nii.gz``):
   a mask voxel ``m`` is read at ``inv(A_bold) HMC[t] COREG A_mask m`` of volume ``t``.
   The ROI masks stay on the T1w-aligned grid (``sourcedata``), as in the real release.
7. **The oracle** (:mod:`.oracle`): the Wiener decoder from the true noise-free training
   responses and the known noise covariance, applied to each subject's measured test data
   averaged over repetitions; its reconstructions (uint8, stimulus resolution) go to
   ``derivatives/simulation/sub-XX/oracle_test.npy`` with pixel figures in
   ``oracle_scores.json``; the recipe's ``[references.oracle]`` carries them through
   prepare, and scoring records the row ``oracle (true encoding model)``.

Sessions: natural-image training and test sessions; ``ses-perceptionArtificialImage0N``
(40 shapes x 20 runs, 8 s blocks, 4 one-backs per run) and ``ses-perceptionLetterImage01``
(10 letters x 12 runs, 12 s blocks each followed by 12 s of rest), with DIR's names and
codes; ``tiny`` has 2 runs of each. One training run per subject is cut short, like
ds001506's 47 short runs.

Head motion: built, tested, off in the default dataset
-----------------------------------------------------
``simulate --motion`` writes moving runs whose transforms prepare undoes (``space = "T1w"``,
the synthetic recipe's versions, as the real recipes'); with motion the slab sits inside
``fov_margin`` = 2 voxels (4 mm) of empty field of view, since with the ROIs against the
volume's faces prepare dropped a third of them as out of view in some run
(``tests/test_simulate_motion.py``: realignment recovers the motion-free BOLD; prepare on a
moving tiny dataset lines up every run and drops the out-of-view voxels).

The default dataset leaves motion off (``[source] motion = false``; its transforms are
identities, so the T1w read is exact), because motion costs signal here more than in a
scanner: the simulator moves its T1w-grid head image by trilinear interpolation and prepare
interpolates it back, so a voxel-level pattern is interpolated twice, with session-specific
weights (real data: once, from the scanner's own samples). Measured at the default noise
(``bench/calibrate_simulate.py --motion``, sub-01 / sub-02 / sub-03): the sanity check fell
from 0.618 / 0.648 / 0.610 to 0.548 / 0.573 / 0.547, the reliable components from 41 / 43 /
39 to 10 / 20 / 13, pca-ridge's PixCorr from 0.51 to 0.35-0.37; with the noise lowered to
2.6 % to restore those, the Kay-style identification still collapsed to 0.38 / 0.20 / 0.28
of 120 images (the encoding model of a voxel fitted on three sessions' mixtures of its
neighbours, tested on a fourth). Sampling the moved head from a sub-voxel model, as a scanner
does, is the fix; until then the default dataset measures decoding, not motion.

Calibration (default size, seed 0, motion off; ``bench/calibrate_simulate.py --kay``)
-------------------------------------------------------------------------------------
Measured through ``fmri_bench.prepare`` (v1) and the package's baselines and metrics;
sub-01 / sub-02 / sub-03:

- visual voxels: 4,598 / 4,835 / 4,588 (target >= 3,000); v1 keeps 4,128 / 4,366 / 4,133;
- the seed's sanity check (svm-sanity) on v1: 0.633 / 0.635 / 0.571 (target 0.55-0.70;
  real ds001506 sub-01: 0.56);
- participation ratio of the noise-free responses, 650 images: 23.0 / 31.6 / 29.3 (>= 20;
  the previous model: about 2);
- reliable components of the prepared test data (even- vs odd-repetition PCs, r > 0.3):
  40 / 45 / 45 of 49 (>= 10);
- oracle PixCorr 0.643 / 0.663 / 0.645 (>= 0.5), SSIM 0.835 / 0.829 / 0.828, pixel
  identification 1.000 / 0.999 / 1.000; pca-ridge reaches 0.77 / 0.82 / 0.83 of the
  oracle's PixCorr (a flat field of each image's true mean colour alone scores 0.46);
- Kay et al. 2008 identification (encoding model on pymoten features, 500 best V1-V3
  voxels, 8-repetition averages): 0.84 / 0.90 / 0.92 of 120 images (Kay: 92 % / 72 %),
  0.68 / 0.82 / 0.74 of 1,000 (Kay: about 80 %), single trials 0.41 / 0.54 / 0.48 (Kay:
  about 51 % / 32 %).
"""

from __future__ import annotations

from fmri_bench.raw.simulate.config import ROIS, SIMULATOR_VERSION, SIZES, ModelParams, SizePreset
from fmri_bench.raw.simulate.writer import noise_free_signal, simulate_dataset

__all__ = ["ROIS", "SIMULATOR_VERSION", "SIZES", "ModelParams", "SizePreset", "noise_free_signal", "simulate_dataset"]
