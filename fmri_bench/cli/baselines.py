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


def _image_prior_params(gan_images: Optional[Path], generator: Optional[Path]) -> dict[str, str]:
    """``--gan-images`` / ``--generator`` as GAN-baseline parameters, checked before any work."""
    params = {}
    if gan_images is not None:
        if not gan_images.is_dir():
            raise FmriBenchError(f"--gan-images {gan_images}: not a folder; expected a folder of .png/.jpg images")
        params["gan_images"] = str(gan_images.resolve())
    if generator is not None:
        if not generator.is_file():
            raise FmriBenchError(f"--generator {generator}: no such file; expected a VAE-GAN checkpoint (.pt)")
        params["generator"] = str(generator.resolve())
    return params


GENERATOR_SEEDS_HELP = (
    "Generator-based baselines: the generator seeds to average over, e.g. 0,1,2 "
    "(default: the shipped checkpoints' seeds; one seed: one run with that seed)."
)


NJobsOption = Annotated[
    int, typer.Option("--n-jobs", help="Subjects fit at once in worker processes (-1: every CPU); same bytes as 1.")
]


@app.command("run-baseline")
def run_baseline_command(
    name: Annotated[str, typer.Argument(help="Baseline name (see `fmri-bench list baselines`).")],
    dataset: Annotated[str, typer.Option(help="Prepared dataset.")] = "synthetic",
    version: Annotated[str, typer.Option(help="Prepared version (v1, v2).")] = "v1",
    subject: Annotated[str, typer.Option(help="Subject (sub-01 ...) or all.")] = "sub-01",
    split: Annotated[
        str, typer.Option("--split", help="Split to reconstruct: test, or artificial / letter where prepared.")
    ] = "test",
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    out: Annotated[
        Optional[Path],
        typer.Option(
            help="Output folder (default <data-home>/submissions/<dataset>/<version>/<baseline>).", show_default=False
        ),
    ] = None,
    leaderboard: LeaderboardOption = None,
    data_home: DataHomeOption = None,
    no_score: Annotated[
        bool, typer.Option("--no-score", help="Write the submission only; do not score or record it.")
    ] = False,
    param: Annotated[
        Optional[list[str]],
        typer.Option("--param", help="Baseline parameter key=value (repeatable).", show_default=False),
    ] = None,
    gan_images: Annotated[
        Optional[Path],
        typer.Option(
            "--gan-images",
            help="GAN baselines: train the VAE-GAN image prior on this image folder.",
            show_default=False,
        ),
    ] = None,
    generator: Annotated[
        Optional[Path],
        typer.Option(
            "--generator",
            help="GAN baselines: a VAE-GAN checkpoint file to use as the image prior.",
            show_default=False,
        ),
    ] = None,
    generator_seeds: Annotated[
        Optional[str],
        typer.Option("--generator-seeds", help=GENERATOR_SEEDS_HELP, show_default=False),
    ] = None,
    n_jobs: NJobsOption = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (metrics) as the last line.")] = False,
) -> None:
    """Train a baseline on the train split, reconstruct the test split (or --split), write and score the submission."""
    from fmri_bench.paths import leaderboard_dir
    from fmri_bench.pipeline import run_baseline
    from fmri_bench.pipeline.run import parse_generator_seeds

    seeds = None if generator_seeds is None else parse_generator_seeds(generator_seeds)
    params: dict[str, Any] = _parse_params(param or [])
    params.update(_image_prior_params(gan_images, generator))
    board = None if no_score else leaderboard_dir(leaderboard, data_home)
    if board is not None and board.exists() and not board.is_dir():
        raise FmriBenchError(f"--leaderboard {board}: not a folder; expected a folder for the leaderboard record")
    results = run_baseline(
        name, dataset=dataset, version=version, subject=subject, seed=seed, device=device, out=out,
        leaderboard=board, score=not no_score, data_home=data_home, params=params, split=split,
        generator_seeds=seeds, n_jobs=n_jobs,
    )  # fmt: skip
    if not as_json:
        _echo_results(name, dataset, version, results)
        return
    per_subject = {r.subject: _shown_metrics(r) for r in results}
    obj = {
        "baseline": name, "kind": results[0].kind, "dataset": dataset, "version": version, "split": split,
        "subject": subject, "seed": seed, "metrics": _mean_metrics(list(per_subject.values())),
        "subjects": {
            r.subject: {"metrics": per_subject[r.subject], "timings": r.timings,
                        "submission": str(r.submission_path) if r.submission_path else None,
                        "sidecar": str(r.sidecar_path), **_seed_spread(r)}
            for r in results
        },
    }  # fmt: skip
    typer.echo(json.dumps(_clean(obj), sort_keys=True, default=str))


def _echo_results(name: str, dataset: str, version: str, results: list[Any]) -> None:
    """One line per subject: where its submission went and its numbers."""
    for result in results:
        where = result.submission_path or result.sidecar_path
        numbers = _shown_metrics(result).items()
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in numbers if v is not None)
        seeds = f"  (mean over generator seeds {', '.join(map(str, result.generator_seeds))})"
        typer.echo(
            f"{name} {dataset} {version} {result.subject}: {where}"
            + (f"  {shown}" if shown else "")
            + (seeds if result.generator_seeds else "")
        )


def _seed_spread(result: Any) -> dict[str, Any]:
    """A run over generator seeds: the seeds, the sd over them and each seed's metrics and file."""
    if not result.generator_seeds:
        return {}
    return {
        "generator_seeds": list(result.generator_seeds),
        "generator_seed_sd": dict(result.seed_sd),
        "generator_seed_metrics": {str(g): m for g, m in result.seed_metrics.items()},
        "generator_seed_submissions": {str(g): str(p) for g, p in result.seed_submissions.items()},
    }


def _shown_metrics(result: Any) -> dict[str, Any]:
    """A result's numbers: every metric key in registry order (reconstruction), or the
    classification result's accuracy, interval bounds, chance, p-value and details."""
    from fmri_bench.metrics import ordered_names

    metrics = dict(result.metrics)
    if result.kind == "reconstruction":
        keys = ordered_names()
        return {key: metrics.get(key) for key in keys} | {k: v for k, v in metrics.items() if k not in keys}
    low, high = metrics.pop("ci95", (None, None))
    return {**metrics, "accuracy_ci95_low": low, "accuracy_ci95_high": high}


def _mean_metrics(per_subject: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean over subjects of every number (n/a unless every subject has it); other values
    are kept when every subject has the same one."""
    from fmri_bench.stats import mean_over_subjects

    out: dict[str, Any] = {}
    for key in per_subject[0]:
        values = [m.get(key) for m in per_subject]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None):
            out[key] = mean_over_subjects(values)[0]
        else:
            out[key] = values[0] if all(v == values[0] for v in values) else None
    return out


@list_app.command("baselines")
def list_baselines() -> None:
    """The registered baselines (built-in and from entry points)."""
    from fmri_bench.estimators import BASELINES

    for name in BASELINES.names():
        cls = BASELINES.get(name)
        description = cls.description or ((cls.__doc__ or "").strip().splitlines() or [""])[0]
        typer.echo(f"{name:<14} {cls.kind:<15} {description}")


@list_app.command("datasets")
def list_datasets() -> None:
    """The dataset recipes (datasets/*.toml)."""
    from fmri_bench.recipe import list_recipes

    for name, title in list_recipes():
        typer.echo(f"{name:<14} {title}".rstrip())


@list_app.command("metrics")
def list_metrics(
    protocol: Annotated[str, typer.Option("--protocol", help="Scoring protocol (see `list protocols`).")] = "mindeye",
) -> None:
    """The reconstruction metrics that scoring computes under a protocol."""
    from fmri_bench.metrics import get_protocol

    proto = get_protocol(protocol)
    for name in proto.names():
        typer.echo(f"{name:<22} {proto.metric(name).description}".rstrip())


@list_app.command("protocols")
def list_protocols() -> None:
    """The scoring protocols (named, versioned sets of metric definitions)."""
    from fmri_bench.metrics import get_protocol, protocol_names

    for name in protocol_names():
        proto = get_protocol(name)
        typer.echo(f"{name:<16} v{proto.version}  {proto.title}")
