"""fMRIPrep derivatives of a BIDS run: where its transforms and reference images are.

fMRIPrep 23.2 (minimal outputs, the OpenNeuroDerivatives releases of ds001506 and ds001246)
names every derivative after the raw run, in the same subject/session folders::

    <fmriprep>/sub-01/ses-X/func/<run stem>_from-orig_to-boldref_mode-image_desc-hmc_xfm.txt
    <fmriprep>/sub-01/ses-X/func/<run stem>_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt
    <fmriprep>/sub-01/ses-X/func/<run stem>_desc-hmc_boldref.nii.gz    (and _desc-coreg_boldref)

where ``<run stem>`` is the raw BOLD's name without ``_bold.nii.gz``. With a local BIDS copy
the derivatives are looked up at ``<source>/derivatives/fmriprep`` unless a folder is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fmri_bench.raw.bids import Run

HMC_XFM = "_from-orig_to-boldref_mode-image_desc-hmc_xfm.txt"
COREG_XFM = "_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt"
HMC_BOLDREF = "_desc-hmc_boldref.nii.gz"
COREG_BOLDREF = "_desc-coreg_boldref.nii.gz"
DEFAULT_SUBDIR = Path("derivatives") / "fmriprep"


@dataclass(frozen=True)
class RunDerivatives:
    """The fMRIPrep files of one run (whether they exist is not checked here).

    Attributes
    ----------
    hmc, coreg : Path
        The head-motion (one affine per volume) and coregistration (one affine) transforms.
    hmc_boldref, coreg_boldref : Path
        fMRIPrep's reference volumes on the raw grid (the hmc one carries the validated header).
    """

    hmc: Path
    coreg: Path
    hmc_boldref: Path
    coreg_boldref: Path

    def transforms(self) -> list[Path]:
        """The files the alignment cannot do without.

        Returns
        -------
        list of Path
        """
        return [self.hmc, self.coreg]


def default_root(source: str | os.PathLike[str]) -> Path:
    """Where a BIDS copy keeps its fMRIPrep derivatives: ``<source>/derivatives/fmriprep``.

    Parameters
    ----------
    source : path-like
        The raw BIDS root.

    Returns
    -------
    Path
    """
    return Path(source) / DEFAULT_SUBDIR


def run_derivatives(fmriprep: str | os.PathLike[str], run: Run) -> RunDerivatives:
    """The fMRIPrep files of ``run`` under the derivatives root ``fmriprep``.

    Parameters
    ----------
    fmriprep : path-like
        The fMRIPrep derivatives root (holding ``sub-*`` folders).
    run : Run
        A raw run (see :func:`fmri_bench.raw.bids.discover_runs`).

    Returns
    -------
    RunDerivatives
    """
    folder = Path(fmriprep) / run.subject / run.session / "func"
    return RunDerivatives(
        hmc=folder / f"{run.name}{HMC_XFM}",
        coreg=folder / f"{run.name}{COREG_XFM}",
        hmc_boldref=folder / f"{run.name}{HMC_BOLDREF}",
        coreg_boldref=folder / f"{run.name}{COREG_BOLDREF}",
    )
