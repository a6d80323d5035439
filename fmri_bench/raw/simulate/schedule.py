"""The runs of one subject and their events.tsv, as in ds001506's perception sessions.

- natural images (``ses-perceptionNaturalImage{Training,Test}0N``): 8 s blocks back to back,
  one-back repetitions (event_type 2) right after their original;
- artificial shapes (``ses-perceptionArtificialImage0N``): the 40 shapes once per run in
  8 s blocks back to back, 4 one-backs per run;
- letters (``ses-perceptionLetterImage01``): the 10 letters once per run in 12 s blocks,
  each followed by 12 s of rest (event_type -3), one one-back per run.

Every run starts with 32 s of rest (-1) and ends with 6 s (-2).
"""

from __future__ import annotations

import numpy as np

from fmri_bench.raw.simulate.config import EVENTS_COLUMNS, SizePreset

#: Split -> (session label, events column values come from the stimulus rows).
SESSION_LABEL = {
    "train": "NaturalImageTraining",
    "test": "NaturalImageTest",
    "artificial": "ArtificialImage",
    "letter": "LetterImage",
}


def _chunk_runs(
    split: str, sequence: np.ndarray, per_run: int, runs_per_session: int, onebacks: int, rng: np.random.Generator
) -> list[dict]:
    """Cut a presentation sequence into runs; insert one-back repetitions right after their original."""
    runs = []
    for k, start in enumerate(range(0, len(sequence), per_run)):
        chunk = sequence[start : start + per_run]
        repeat_after = set(rng.choice(np.arange(len(chunk)), size=min(onebacks, len(chunk)), replace=False).tolist())
        blocks = []
        for pos, img in enumerate(chunk):
            blocks.append((int(img), 1))
            if pos in repeat_after:
                blocks.append((int(img), 2))
        runs.append(
            {
                "split": split,
                "session": f"ses-perception{SESSION_LABEL[split]}{k // runs_per_session + 1:02d}",
                "run": k % runs_per_session + 1,
                "blocks": blocks,
            }
        )
    return runs


def run_schedule(preset: SizePreset, n_artificial: int, n_letters: int, rng: np.random.Generator) -> list[dict]:
    """Every run of one subject: split, session, run number, and its blocks ``(image_index, event_type)``.

    Parameters
    ----------
    preset : SizePreset
        Images, repetitions and runs per session of each kind.
    n_artificial, n_letters : int
        Images of the artificial-shape and letter sets.
    rng : numpy.random.Generator
        The subject's schedule stream.

    Returns
    -------
    list of dict
        In the order natural training, natural test, artificial, letter.
    """
    runs = []
    for split, n_img, reps in (("train", preset.n_train, preset.train_reps), ("test", preset.n_test, preset.test_reps)):
        sequence = np.concatenate([rng.permutation(n_img) + 1 for _ in range(reps)])
        runs += _chunk_runs(
            split, sequence, preset.images_per_run, preset.runs_per_session, preset.onebacks_per_run, rng
        )
    kinds = (
        (
            "artificial",
            n_artificial,
            preset.artificial_reps,
            preset.artificial_runs_per_session,
            preset.artificial_onebacks,
        ),
        ("letter", n_letters, preset.letter_reps, preset.letter_reps, preset.letter_onebacks),
    )
    for split, n_img, reps, per_session, onebacks in kinds:
        sequence = np.concatenate([rng.permutation(n_img) + 1 for _ in range(reps)])
        runs += _chunk_runs(split, sequence, n_img, per_session, onebacks, rng)
    return runs


def block_timing(split: str, preset: SizePreset) -> tuple[float, float]:
    """(block duration, rest after each block) in seconds for a run of ``split``.

    Parameters
    ----------
    split : str
        ``train``, ``test``, ``artificial`` or ``letter``.
    preset : SizePreset
        The timing.

    Returns
    -------
    tuple of float
    """
    if split == "letter":
        return preset.letter_block_s, preset.letter_rest_s
    return preset.block_s, 0.0


def events_table(
    run: dict, stim: dict[int, dict], preset: SizePreset, rng: np.random.Generator
) -> tuple[str, np.ndarray, np.ndarray, float]:
    """One run's events.tsv text, its block onsets and durations, and its length in seconds.

    Parameters
    ----------
    run : dict
        A run of :func:`run_schedule`.
    stim : dict
        image_index -> stimulus row (``stimulus_id``, ``stimulus_name``, ``category_index``).
    preset : SizePreset
        The timing.
    rng : numpy.random.Generator
        For the one-back response times.

    Returns
    -------
    text : str
    onsets, durations : ndarray
        The stimulus and one-back blocks (event_type 1 and 2), seconds.
    length : float
        The run's length implied by the events, seconds.
    """
    block_s, rest_s = block_timing(run["split"], preset)
    lines = ["\t".join(EVENTS_COLUMNS), f"0\t{preset.initial_rest_s:g}\t-1\tn/a\tn/a\tn/a\tn/a\tn/a"]
    onsets, durations = [], []
    t = preset.initial_rest_s
    for img, code in run["blocks"]:
        s = stim[img]
        rt = f"{t + rng.uniform(0.6, 1.6):.6f}" if code == 2 else "n/a"
        row = [f"{t:g}", f"{block_s:g}", str(code), s["stimulus_id"], s["stimulus_name"], str(s["category_index"])]
        lines.append("\t".join([*row, str(img), rt]))
        onsets.append(t)
        durations.append(block_s)
        t += block_s
        if rest_s:
            lines.append(f"{t:g}\t{rest_s:g}\t-3\tn/a\tn/a\tn/a\tn/a\tn/a")
            t += rest_s
    lines.append(f"{t:g}\t{preset.final_rest_s:g}\t-2\tn/a\tn/a\tn/a\tn/a\tn/a")
    return "\n".join(lines) + "\n", np.array(onsets), np.array(durations), t + preset.final_rest_s


def read_events(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(onset, duration, event_type, image_index) of every stimulus and one-back row of an events.tsv.

    Parameters
    ----------
    path : path-like
        The events file.

    Returns
    -------
    tuple of ndarray
    """
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    col = {c: i for i, c in enumerate(header)}
    picked = [r for r in rows if int(float(r[col["event_type"]])) in (1, 2)]
    return (
        np.array([float(r[col["onset"]]) for r in picked]),
        np.array([float(r[col["duration"]]) for r in picked]),
        np.array([int(float(r[col["event_type"]])) for r in picked]),
        np.array([int(r[col["image_index"]]) for r in picked]),
    )
