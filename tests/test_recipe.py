"""Recipes: the built-in TOML files load, validate, and bind each version to a parameter hash."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from fmri_bench.errors import FmriBenchError
from fmri_bench.recipe import list_recipes, load_recipe, validate


def test_builtin_recipes_load_with_pinned_releases() -> None:
    names = dict(list_recipes())
    assert set(names) == {"synthetic", "ds001506", "ds001246"}
    assert all(title for title in names.values())
    ds = load_recipe("ds001506")
    assert ds.source["commit"] == "0bd43a59def10a921cab51500b03122d1defc0aa" and ds.source["release"] == "1.3.1"
    assert load_recipe("ds001246").source["commit"] == "261343c5e738466b7b2e2d7ef9b07785845a7463"
    assert ds.versions == ["v1", "v2", "v3"]
    assert ds.version("v1")["method"] == "block_average" and ds.version("v2")["method"] == "single_trial_glm"
    assert {"V1d", "hV4", "LOC", "FFA", "PPA"} <= set(ds.version("v1")["rois"]) and "HVC" not in ds.version("v1")[
        "rois"
    ]
    assert load_recipe("synthetic").source["kind"] == "simulate"


def test_parameter_hash_tracks_every_parameter() -> None:
    recipe = load_recipe("ds001506")
    assert recipe.parameters_hash("v1") != recipe.parameters_hash("v2")
    data = copy.deepcopy(recipe.data)
    data["versions"]["v1"]["delay_s"] = 6.0
    assert validate(data, "x").parameters_hash("v1") != recipe.parameters_hash("v1")
    assert validate(data, "x").parameters_hash("v2") == recipe.parameters_hash("v2")
    data = copy.deepcopy(recipe.data)
    data["events"]["repeat"] = []
    assert validate(data, "x").parameters_hash("v1") != recipe.parameters_hash("v1")


def test_bad_recipes_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(FmriBenchError, match="unknown dataset 'ds999'.*ds001246, ds001506, synthetic"):
        load_recipe("ds999")
    data = copy.deepcopy(load_recipe("ds001506").data)
    data["versions"]["v1"]["method"] = "magic"
    with pytest.raises(FmriBenchError, match="versions.v1.method is 'magic'"):
        validate(data, "x")
    data = copy.deepcopy(load_recipe("ds001506").data)
    del data["versions"]["v2"]["hrf_model"]
    with pytest.raises(FmriBenchError, match="missing key versions.v2.hrf_model"):
        validate(data, "x")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(FmriBenchError, match="not valid TOML") as info:
        load_recipe(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(FmriBenchError, match="has no version 'v9'"):
        load_recipe("synthetic").version("v9")
