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

import importlib
from typing import Any

# Imported on first use: `fmri-bench score` needs neither prepare (nilearn) nor the
# estimators (scikit-learn, brainiak); importing them eagerly cost about a second per command.
_LAZY = {
    "acquire": "data", "fetch": "data", "prepare_dataset": "data", "raw_dir": "data",
    "demo_baselines": "demo", "run_demo": "demo",
    "RunResult": "run", "make_estimator": "run", "run_baseline": "run",
    "ScoreReport": "score", "record_reference_rows": "score", "score_subjects": "score",
    "score_submission": "score", "subject_files": "score",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'fmri_bench.pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(f"fmri_bench.pipeline.{_LAZY[name]}"), name)


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
