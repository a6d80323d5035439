"""Synthetic BIDS dataset (docstring written below)."""

from __future__ import annotations

from fmri_bench.raw.simulate.config import ROIS, SIMULATOR_VERSION, SIZES, ModelParams, SizePreset
from fmri_bench.raw.simulate.writer import noise_free_signal, simulate_dataset

__all__ = ["ROIS", "SIMULATOR_VERSION", "SIZES", "ModelParams", "SizePreset", "noise_free_signal", "simulate_dataset"]
