"""Dataset recipes (TOML data files), installed as package data of ``fmri_bench.recipes``.

This file holds no code: it only lets pip ship the recipes with the package.
"""
