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
    assert ds.versions == ["v1", "v2"]
    assert ds.version("v1")["method"] == "block_average" and ds.version("v2")["method"] == "single_trial_glm"
    assert ds.version("v2")["trial_model"] == "lss" and ds.version("v2")["drift_model"] == "polynomial"
    assert ds.split_names == ["train", "test", "artificial", "letter"]
    assert load_recipe("ds001246").split_names == ["train", "test"]
    for name in ("ds001506", "ds001246"):  # the real data are aligned through fMRIPrep, trilinear
        recipe = load_recipe(name)
        assert {recipe.version(v)["space"] for v in recipe.versions} == {"T1w"}
        assert {recipe.version(v)["interpolation"] for v in recipe.versions} == {"linear"}
        assert len(recipe.fmriprep["commit"]) == 40 and recipe.fmriprep["url"].endswith(f"{name}-fmriprep.git")
    assert load_recipe("ds001506").fmriprep["commit"] == "b61d573b7268f0d90b0526740905b4453524e191"
    assert load_recipe("ds001246").fmriprep["commit"] == "5d6df28641432cfcf135887f97b84c7b8f7b3bad"
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
    for key, value in (("space", "native"), ("interpolation", "cubic")):  # how the voxels are read
        data = copy.deepcopy(recipe.data)
        data["versions"]["v1"][key] = value
        assert validate(data, "x").parameters_hash("v1") != recipe.parameters_hash("v1")
    data = copy.deepcopy(recipe.data)
    data["fmriprep"]["commit"] = "0" * 40  # which transforms
    assert validate(data, "x").parameters_hash("v1") != recipe.parameters_hash("v1")


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "/abs", ".hidden", "a\\b"])
def test_unsafe_recipe_and_version_names_are_refused_before_anything_is_touched(name: str, tmp_path: Path) -> None:
    """An empty name would make prepare work on <data-home>/raw itself, ``../x`` escape the data home."""
    from fmri_bench.pipeline import prepare_dataset

    for where in ("name", "version", "split"):
        data = copy.deepcopy(load_recipe("synthetic").data)
        if where == "name":
            data["name"] = name
        elif where == "version":
            data["versions"][name] = data["versions"].pop("v1")
        else:
            data["splits"][name] = {"sessions": "ses-x*"}
        with pytest.raises(FmriBenchError, match="is not allowed") as info:
            prepare_dataset(validate(data, "x"), data_home=tmp_path / "home")
        assert "\n" not in str(info.value)
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(
        (load_recipe("synthetic").path).read_text().replace('name = "synthetic"', f"name = {name!r}")
    )
    with pytest.raises(FmriBenchError, match="is not allowed"):
        load_recipe(recipe_file)
    assert not (tmp_path / "home").exists()  # nothing was created, let alone deleted


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
    for key, value in (("space", "MNI"), ("interpolation", "nearest"), ("trial_model", "lsx")):
        data = copy.deepcopy(load_recipe("ds001506").data)
        data["versions"]["v2"][key] = value
        with pytest.raises(FmriBenchError, match=f"versions.v2.{key} is '{value}'; expected one of"):
            validate(data, "x")
    data = copy.deepcopy(load_recipe("ds001506").data)
    del data["fmriprep"]
    with pytest.raises(FmriBenchError, match="fmriprep.url is required"):
        validate(data, "x")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(FmriBenchError, match="not valid TOML") as info:
        load_recipe(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(FmriBenchError, match="has no version 'v9'"):
        load_recipe("synthetic").version("v9")
