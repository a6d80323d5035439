"""The orchestrator: the one place that chains the stages, for the CLI, the demo and notebooks.

::

    acquire (simulate / download) -> prepare -> load -> fit -> predict -> write submission
    -> evaluate -> record (leaderboard)

- :func:`fetch`: one subject's data as a Bunch, prepared on first use.
- :func:`prepare_dataset`: acquire and prepare (``fmri-bench prepare``).
- :func:`run_baseline`: fit, reconstruct, write and score (``fmri-bench run-baseline``).
- :func:`score_submission` / :func:`score_subjects`: score files and record them (``fmri-bench score``).
- :func:`run_demo`: all of it on the embedded dataset (``fmri-bench demo``).
"""

from __future__ import annotations

from fmri_bench.pipeline.data import acquire, fetch, prepare_dataset, raw_dir
from fmri_bench.pipeline.demo import demo_baselines, run_demo
from fmri_bench.pipeline.run import RunResult, make_estimator, run_baseline
from fmri_bench.pipeline.score import (
    ScoreReport,
    record_reference_rows,
    score_subjects,
    score_submission,
    subject_files,
)

__all__ = [
    "RunResult",
    "ScoreReport",
    "acquire",
    "demo_baselines",
    "fetch",
    "make_estimator",
    "prepare_dataset",
    "raw_dir",
    "record_reference_rows",
    "run_baseline",
    "run_demo",
    "score_submission",
    "score_subjects",
    "subject_files",
]
