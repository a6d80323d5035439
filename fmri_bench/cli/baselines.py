"""``fmri-bench run-baseline`` and ``fmri-bench list baselines|datasets|metrics``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from fmri_bench.cli._app import DataHomeOption, LeaderboardOption, app
from fmri_bench.errors import FmriBenchError

list_app = typer.Typer(help="List the registered baselines, dataset recipes or metrics.", no_args_is_help=True)
app.add_typer(list_app, name="list")


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FmriBenchError(f"--param {pair!r}: expected key=value, e.g. --param n_components=100")
        params[key.strip()] = value
    return params


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and inf become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


@app.command("run-baseline")
def run_baseline_command(
    name: Annotated[str, typer.Argument(help="Baseline name (see `fmri-bench list baselines`).")],
    dataset: Annotated[str, typer.Option(help="Prepared dataset.")] = "synthetic",
    version: Annotated[str, typer.Option(help="Prepared version (v1, v2, v3).")] = "v1",
    subject: Annotated[str, typer.Option(help="Subject (sub-01 ...) or all.")] = "sub-01",
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    out: Annotated[
        Optional[Path],
        typer.Option(help="Output folder (default <data-home>/submissions/<dataset>/<version>/<baseline>).", show_default=False),
    ] = None,
    leaderboard: LeaderboardOption = None,
    data_home: DataHomeOption = None,
    no_score: Annotated[bool, typer.Option("--no-score", help="Write the submission only; do not score or record it.")] = False,
    param: Annotated[
        Optional[list[str]], typer.Option("--param", help="Baseline parameter key=value (repeatable).", show_default=False)
    ] = None,
    gan_images: Annotated[
        Optional[Path], typer.Option("--gan-images", help="GAN baselines: train the generator on this image folder.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (metrics) as the last line.")] = False,
) -> None:
    """Train a baseline on the train split, reconstruct the test split, write and score the submission."""
    from fmri_bench.metrics import ordered_names
    from fmri_bench.runner import run_baseline

    params: dict[str, Any] = _parse_params(param or [])
    if gan_images is not None:
        if not gan_images.is_dir():
            raise FmriBenchError(f"--gan-images {gan_images}: not a folder; expected a folder of .png/.jpg images")
        params["gan_images"] = str(gan_images.resolve())
    results = run_baseline(
        name, dataset=dataset, version=version, subject=subject, seed=seed, device=device, out=out,
        leaderboard=leaderboard, score=not no_score, data_home=data_home, params=params,
    )  # fmt: skip
    per_subject = {}
    for result in results:
        metrics = result.metrics
        if result.kind == "reconstruction":
            metric_keys = ordered_names()
            metrics = {key: metrics.get(key) for key in metric_keys} | {
                k: v for k, v in metrics.items() if k not in metric_keys
            }
        per_subject[result.subject] = metrics
        where = result.submission_path or result.sidecar_path
        if not as_json:
            shown = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items() if v is not None
            )
            typer.echo(f"{name} {dataset} {version} {result.subject}: {where}" + (f"  {shown}" if shown else ""))
    if as_json:
        first = results[0]
        if len(results) == 1:
            metrics = per_subject[first.subject]
        else:  # the mean over subjects of every numeric metric
            keys = list(per_subject[first.subject])
            metrics = {}
            for key in keys:
                values = [m.get(key) for m in per_subject.values()]
                numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
                metrics[key] = sum(numeric) / len(numeric) if len(numeric) == len(values) else values[0]
        obj = {
            "baseline": name, "kind": first.kind, "dataset": dataset, "version": version,
            "subject": subject, "seed": seed, "metrics": metrics,
            "subjects": {
                r.subject: {"metrics": per_subject[r.subject], "timings": r.timings,
                            "submission": str(r.submission_path) if r.submission_path else None,
                            "sidecar": str(r.sidecar_path)}
                for r in results
            },
        }  # fmt: skip
        typer.echo(json.dumps(_clean(obj), sort_keys=True, default=str))


@list_app.command("baselines")
def list_baselines() -> None:
    """The registered baselines (built-in and from entry points)."""
    from fmri_bench.baselines._base import BASELINES

    for name in BASELINES.names():
        cls = BASELINES.get(name)
        kind = getattr(cls, "kind", "reconstruction")
        description = getattr(cls, "description", "") or (cls.__doc__ or "").strip().splitlines()[0:1]
        if isinstance(description, list):
            description = description[0] if description else ""
        typer.echo(f"{name:<14} {kind:<15} {description}")


def _describe(obj: Any) -> str:
    for attr in ("description", "title"):
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value:
            return value
    doc = getattr(obj, "__doc__", None) if callable(obj) else None
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""


@list_app.command("datasets")
def list_datasets() -> None:
    """The dataset recipes (datasets/*.toml)."""
    try:
        from fmri_bench.recipe import list_recipes
    except ImportError:
        raise FmriBenchError("dataset recipes are not available in this version (fmri_bench.recipe.list_recipes is missing)") from None
    for recipe in list_recipes():
        if isinstance(recipe, (tuple, list)):  # (name, title)
            typer.echo(f"{recipe[0]:<14} {' '.join(map(str, recipe[1:]))}".rstrip())
        elif isinstance(recipe, str):
            typer.echo(recipe)
        else:
            typer.echo(f"{getattr(recipe, 'name', recipe)!s:<14} {_describe(recipe)}".rstrip())


@list_app.command("metrics")
def list_metrics() -> None:
    """The reconstruction metrics that scoring computes."""
    try:
        from fmri_bench.metrics import METRICS
    except ImportError:
        raise FmriBenchError("the metrics registry is not available in this version (fmri_bench.metrics.METRICS is missing)") from None
    for name in METRICS.names():
        typer.echo(f"{name:<22} {_describe(METRICS.get(name))}".rstrip())
