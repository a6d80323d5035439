"""Dataset recipes: the TOML files in ``datasets/``, installed as ``fmri_bench.recipes`` data.

A recipe says where a dataset comes from (a pinned OpenNeuro release, or the simulator),
how its BIDS tree is read (task, sessions per split, event codes, ROI masks) and the
frozen parameters of every prepared version (``[versions.v1]``, ``[versions.v2]``). The
contract for each key is in ``datasets/README.md``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fmri_bench.errors import FmriBenchError
from fmri_bench.io import sha256_json
from fmri_bench.paths import check_name

METHODS = ("block_average", "single_trial_glm")
SOURCE_KINDS = ("openneuro", "simulate")
#: The splits every recipe has; a recipe may add more (ds001506: ``artificial``, ``letter``).
SPLITS = ("train", "test")
#: ``T1w``: resampled onto the ROI masks' grid through fMRIPrep's head-motion and coregistration
#: transforms; ``native``: the raw voxels as they are (only for data that is already aligned).
SPACES = ("T1w", "native")
INTERPOLATIONS = ("linear", "cubic")
TRIAL_MODELS = ("lss", "lsa")

# Keys each version method needs, and their types (checked on load, so a typo fails early).
_METHOD_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "block_average": {"rois": list, "delay_s": (int, float), "detrend": bool, "standardize": (str, bool)},
    "single_trial_glm": {
        "rois": list,
        "trial_model": str,
        "hrf_model": str,
        "drift_model": str,
        "drift_order": int,
        "high_pass_hz": (int, float),
        "noise_model": str,
        "zscore_betas": bool,
        "delay_s": (int, float),
    },
}


@dataclass(frozen=True)
class Recipe:
    """A validated dataset recipe.

    Attributes
    ----------
    name, title : str
        The dataset name (``synthetic``, ``ds001506``...) and a one-line description.
    data : dict
        The parsed TOML.
    path : Path or None
        The file it was read from.
    """

    name: str
    title: str
    data: dict[str, Any] = field(repr=False)
    path: Path | None = None

    @property
    def source(self) -> dict[str, Any]:
        return self.data["source"]

    @property
    def fmriprep(self) -> dict[str, Any]:
        """The pinned fMRIPrep derivatives (``url``, ``commit``) of an OpenNeuro source, or ``{}``."""
        return dict(self.data.get("fmriprep", {}))

    @property
    def spaces(self) -> set[str]:
        """The spaces the recipe's versions are prepared in."""
        return {params["space"] for params in self.data["versions"].values()}

    @property
    def subjects(self) -> list[str] | None:
        """The recipe's subjects, or None to take every ``sub-*`` folder of the source."""
        subjects = self.data.get("subjects")
        return list(subjects) if subjects else None

    @property
    def bids(self) -> dict[str, Any]:
        return self.data["bids"]

    @property
    def events(self) -> dict[str, Any]:
        return self.data["events"]

    @property
    def splits(self) -> dict[str, dict[str, Any]]:
        return self.data["splits"]

    @property
    def split_names(self) -> list[str]:
        """``train``, ``test``, then the recipe's other splits in file order (e.g. ``artificial``, ``letter``)."""
        return [*SPLITS, *(s for s in self.splits if s not in SPLITS)]

    @property
    def resolution(self) -> int:
        """Side in pixels of the prepared stimulus images."""
        return int(self.data.get("stimuli", {}).get("resolution", 256))

    @property
    def references(self) -> dict[str, dict[str, Any]]:
        """Reference reconstructions the source ships: key -> ``name``, ``split``, ``path`` (``{subject}``)."""
        return dict(self.data.get("references", {}))

    @property
    def versions(self) -> list[str]:
        return sorted(self.data["versions"])

    def version(self, version: str) -> dict[str, Any]:
        """Return the parameter table of ``version``; raise FmriBenchError if unknown.

        Parameters
        ----------
        version : str
            A key of the recipe's ``[versions.*]`` tables (``v1``, ``v2``...).

        Returns
        -------
        dict
            A copy of the version's parameter table (``method``, ``rois``, ``delay_s``...).
        """
        try:
            return dict(self.data["versions"][version])
        except KeyError:
            raise FmriBenchError(
                f"{self.name} has no version {version!r}; expected one of: {', '.join(self.versions)}"
            ) from None

    def parameters(self, version: str) -> dict[str, Any]:
        """Everything that shapes the arrays of ``version``: the value its hash is taken of.

        Parameters
        ----------
        version : str
            A version of the recipe (``v1``, ``v2``...).

        Returns
        -------
        dict
            ``dataset``, ``version``, ``method`` (the version's table), ``bids``, the sessions
            of each split, ``events``, the stimulus resolution and the raw-data ``source``.
        """
        return {
            "dataset": self.name,
            "version": version,
            "method": self.version(version),
            "bids": self.bids,
            "splits": {s: {"sessions": self.splits[s]["sessions"]} for s in self.split_names},
            "events": self.events,
            "stimuli": {"resolution": self.resolution},
            # Which raw data: the pinned release, or the simulator's version, size, seed and motion;
            # and which transforms.
            "source": {
                k: v
                for k, v in self.source.items()
                if k in ("kind", "release", "commit", "size", "seed", "motion", "simulator_version")
            },
            "fmriprep": {k: v for k, v in self.fmriprep.items() if k == "commit"},
        }

    def parameters_hash(self, version: str) -> str:
        """sha256 of :meth:`parameters` (canonical JSON).

        Parameters
        ----------
        version : str
            A version of the recipe (``v1``, ``v2``...).

        Returns
        -------
        str
            The hex digest.
        """
        return sha256_json(self.parameters(version))


def _fail(where: str, message: str) -> FmriBenchError:
    return FmriBenchError(f"recipe {where}: {message}")


def validate(data: dict[str, Any], where: str) -> Recipe:
    """Check the structure of a parsed recipe; return it as a :class:`Recipe`.

    Parameters
    ----------
    data : dict
        The parsed TOML.
    where : str
        How to name the recipe in error messages (usually its path).

    Returns
    -------
    Recipe
        The recipe, with no ``path``.

    Raises
    ------
    FmriBenchError
        A required key is missing, empty or of the wrong type, or names an unknown source kind
        or method.
    """
    for key in ("name", "title", "source", "bids", "splits", "events", "versions"):
        if key not in data:
            raise _fail(where, f"missing key {key!r}")
    # The name and the version names become folders under the data home: plain names only
    # (an empty name would make prepare work on <data-home>/raw itself).
    check_name(data["name"], f"recipe {where}: name")
    kind = data["source"].get("kind")
    if kind not in SOURCE_KINDS:
        raise _fail(where, f"source.kind is {kind!r}; expected one of: {', '.join(SOURCE_KINDS)}")
    if kind == "openneuro":
        for key in ("url", "release", "commit"):
            if not data["source"].get(key):
                raise _fail(where, f"source.{key} is required for an openneuro source")
        if any(v.get("space") == "T1w" for v in data["versions"].values()):
            for key in ("url", "commit"):
                if not data.get("fmriprep", {}).get(key):
                    raise _fail(where, f"fmriprep.{key} is required: a T1w version of an openneuro source needs them")
    for key in ("task", "mask", "hemispheres"):
        if key not in data["bids"]:
            raise _fail(where, f"missing key bids.{key}")
    for split in {*SPLITS, *data["splits"]}:
        check_name(split, f"recipe {where}: split")
        if "sessions" not in data["splits"].get(split, {}):
            raise _fail(where, f"missing key splits.{split}.sessions")
    for key in ("column", "stimulus", "repeat", "rest"):
        if key not in data["events"]:
            raise _fail(where, f"missing key events.{key}")
    for key, ref in data.get("references", {}).items():
        if not all(isinstance(ref.get(k), str) and ref.get(k) for k in ("name", "split", "path")):
            raise _fail(where, f"references.{key} needs the strings name, split and path")
        if ref["split"] not in data["splits"] or "{subject}" not in ref["path"]:
            raise _fail(where, f"references.{key}: split must be a split of the recipe and path must hold {{subject}}")
        if not isinstance(ref.get("ceiling", False), bool):
            raise _fail(where, f"references.{key}: ceiling must be true or false")
    if not data["versions"]:
        raise _fail(where, "no [versions.*] table")
    for version, params in data["versions"].items():
        check_name(version, f"recipe {where}: version")
        _validate_version(version, params, where)
    return Recipe(name=str(data["name"]), title=str(data["title"]), data=data)


def _validate_version(version: str, params: dict[str, Any], where: str) -> None:
    method = params.get("method")
    if method not in METHODS:
        raise _fail(where, f"versions.{version}.method is {method!r}; expected one of: {', '.join(METHODS)}")
    for key, types in _METHOD_KEYS[method].items():
        if key not in params:
            raise _fail(where, f"missing key versions.{version}.{key} (method {method})")
        if not isinstance(params[key], types):
            raise _fail(where, f"versions.{version}.{key} has the wrong type ({type(params[key]).__name__})")
    if not params["rois"]:
        raise _fail(where, f"versions.{version}.rois is empty")
    choices = {"space": SPACES, "trial_model": TRIAL_MODELS if method == "single_trial_glm" else None}
    if params.get("space") == "T1w":
        choices["interpolation"] = INTERPOLATIONS
    for key, allowed in choices.items():
        if allowed is not None and params.get(key) not in allowed:
            raise _fail(
                where, f"versions.{version}.{key} is {params.get(key)!r}; expected one of: {', '.join(allowed)}"
            )


def _recipe_files() -> dict[str, Any]:
    folder = resources.files("fmri_bench.recipes")
    return {entry.name[: -len(".toml")]: entry for entry in folder.iterdir() if entry.name.endswith(".toml")}


def load_recipe(name: str | os.PathLike[str]) -> Recipe:
    """Load and validate a recipe by dataset name (a built-in recipe) or from a TOML file path.

    Parameters
    ----------
    name : str or path-like
        ``synthetic``, ``ds001506``, ``ds001246``, or the path of a recipe file.

    Returns
    -------
    Recipe
    """
    text_path = str(name)
    if text_path.endswith(".toml") or os.sep in text_path:
        path = Path(text_path)
        if not path.is_file():
            raise FmriBenchError(f"recipe {path}: no such file")
        text, origin = path.read_text(encoding="utf-8"), path
    else:
        files = _recipe_files()
        if text_path not in files:
            raise FmriBenchError(f"unknown dataset {text_path!r}; expected one of: {', '.join(sorted(files))}")
        text, origin = files[text_path].read_text(encoding="utf-8"), Path(str(files[text_path]))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(str(origin), f"not valid TOML ({exc})") from exc
    recipe = validate(data, str(origin))
    return Recipe(name=recipe.name, title=recipe.title, data=recipe.data, path=origin)


def list_recipe_names() -> list[str]:
    """The names of the built-in recipes, sorted (without reading them).

    Returns
    -------
    list of str
    """
    return sorted(_recipe_files())


def list_recipes() -> list[tuple[str, str]]:
    """Return ``(name, title)`` of every built-in dataset recipe, sorted by name.

    Returns
    -------
    list of (str, str)
    """
    return [(name, load_recipe(name).title) for name in sorted(_recipe_files())]
