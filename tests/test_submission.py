"""Bad submissions: one line, exit code 2, and the leaderboard byte-for-byte unchanged."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fmri_bench.cli import main
from fmri_bench.errors import SubmissionError
from fmri_bench.submission import load_submission, validate_array

N, SIZE = 4, 32
sys.path.insert(0, str(Path(__file__).parent))
from _score_home import write_manifest  # noqa: E402


def make_home(root: Path, n: int = N, size: int = SIZE, subjects: tuple[str, ...] = ("sub-01",)) -> Path:
    """A hand-laid data home in the prepared layout (images + manifest + subject folders)."""
    rng = np.random.default_rng(0)
    folder = root / "synthetic" / "v1"
    folder.mkdir(parents=True)
    np.save(folder / "images_test.npy", rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))
    np.save(folder / "images_train.npy", rng.integers(0, 256, (6, size, size, 3), dtype=np.uint8))
    write_manifest(folder)
    for s in subjects:
        (folder / s).mkdir()
        for split in ("train", "test"):
            np.save(folder / s / f"{split}_fmri.npy", np.zeros((n, 3), np.float32))
            np.save(folder / s / f"{split}_labels.npy", np.arange(n))
    return root


@pytest.fixture(scope="module")
def scored_board(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A data home and a leaderboard that already holds one scored submission."""
    root = tmp_path_factory.mktemp("subm")
    home = make_home(root / "home")
    good = root / "good.npy"
    np.save(good, np.load(home / "synthetic" / "v1" / "images_test.npy"))
    assert main(["score", str(good), "--data-home", str(home), "--leaderboard", str(root / "board")]) == 0
    return home, root / "board"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _bad_arrays() -> dict[str, tuple[np.ndarray, str]]:
    ok = np.zeros((N, SIZE, SIZE, 3), np.float32)
    nan = ok.copy()
    nan[0, 0, 0, 0] = np.nan
    inf = ok.copy()
    inf[1, 2, 3, 1] = np.inf
    return {
        "wrong_count": (np.zeros((N - 1, SIZE, SIZE, 3), np.uint8), "expected 4, one per test image"),
        "wrong_rank": (np.zeros((N, SIZE, SIZE), np.uint8), "expected 4"),
        "no_colour_axis": (np.zeros((N, SIZE, SIZE, 4), np.uint8), "no colour axis"),
        "nan": (nan, "NaN or infinite"),
        "inf": (inf, "NaN or infinite"),
        "above_one": (ok + 1.5, "expected floats in [0, 1]"),
        "negative": (ok - 0.25, "expected floats in [0, 1]"),
        "not_square": (np.zeros((N, SIZE, SIZE + 8, 3), np.uint8), "not square"),
        "too_small": (np.zeros((N, 16, 16, 3), np.uint8), "at least 32 px"),
        "complex": (ok.astype(np.complex64), "complex"),
        "bool": (ok.astype(bool), "bool"),
        "int64": (ok.astype(np.int64), "expected uint8"),
    }


def _assert_refused_in_one_line(
    path: Path, home: Path, board: Path, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`score` exits 2 with one line containing ``expected``, and the leaderboard stays byte-identical."""
    before = _snapshot(board)
    capsys.readouterr()
    assert main(["score", str(path), "--data-home", str(home), "--leaderboard", str(board)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and expected in err
    assert _snapshot(board) == before


@pytest.mark.parametrize("case", list(_bad_arrays()))
def test_bad_arrays_exit_2_in_one_line_and_leave_the_board_unchanged(
    case: str, scored_board: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, board = scored_board
    array, expected = _bad_arrays()[case]
    path = tmp_path / f"{case}.npy"
    np.save(path, array)
    before = _snapshot(board)
    capsys.readouterr()
    code = main(["score", str(path), "--data-home", str(home), "--leaderboard", str(board)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err and expected in err
    assert _snapshot(board) == before
    assert not (tmp_path / f"{case}.grid.png").exists()


def _write_object_array(path: Path) -> None:
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)


def _write_truncated(path: Path) -> None:
    np.save(path, np.zeros((N, SIZE, SIZE, 3), np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _write_text(path: Path) -> None:
    path.write_text("this is not an array\n")


@pytest.mark.parametrize(
    ("writer", "expected"),
    [
        (_write_object_array, "Python objects"),
        (_write_truncated, "expected a complete file written by numpy.save"),
        (_write_text, "not a .npy file"),
    ],
)
def test_bad_files_exit_2(
    writer, expected: str, scored_board: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, board = scored_board
    path = tmp_path / "bad.npy"
    writer(path)
    _assert_refused_in_one_line(path, home, board, expected, capsys)


@pytest.mark.parametrize(
    ("sidecar", "expected"), [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object")]
)
def test_a_sidecar_that_is_not_a_json_object_exits_2(
    sidecar: str, expected: str, scored_board: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, board = scored_board
    path = tmp_path / "method.npy"
    np.save(path, np.zeros((N, SIZE, SIZE, 3), np.uint8))
    path.with_suffix(".json").write_text(sidecar)
    _assert_refused_in_one_line(path, home, board, expected, capsys)


def test_other_extensions_and_missing_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(SubmissionError, match="not a .npy file"):
        load_submission(path)
    with pytest.raises(SubmissionError, match="no such file"):
        load_submission(tmp_path / "missing.npy")


def test_valid_formats_load_to_float_channel_last(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (N, SIZE, SIZE, 3), dtype=np.uint8)
    for array in (u8, u8.transpose(0, 3, 1, 2), (u8 / 255).astype(np.float64), (u8 / 255).astype(np.float16)):
        path = tmp_path / "sub.npy"
        np.save(path, array)
        sub = load_submission(path, n_expected=N)
        assert sub.images.shape == (N, SIZE, SIZE, 3) and sub.images.dtype == np.float32
        np.testing.assert_allclose(sub.images, u8 / 255, atol=1e-3)
    path.with_suffix(".json").write_text(json.dumps({"method": "m", "authors": "a"}))
    assert load_submission(path).sidecar == {"method": "m", "authors": "a"}


# --------------------------------------------------------------------------- property-based

_sizes = st.integers(min_value=32, max_value=40)


@st.composite
def malformed(draw) -> np.ndarray:
    """Arrays that break exactly one rule of the submission format."""
    n = draw(st.integers(1, 3))
    size = draw(_sizes)
    rule = draw(st.sampled_from(["rank", "nonfinite", "range", "dtype", "square", "small", "channels"]))
    if rule == "rank":
        shape = draw(st.sampled_from([(n, size, size), (n, size, size, 3, 1), (size,), (n, 1, size, size, 3)]))
        return np.zeros(shape, np.uint8)
    if rule == "nonfinite":
        arr = draw(hnp.arrays(np.float32, (n, size, size, 3), elements=st.floats(0, 1, width=32)))
        idx = tuple(draw(st.integers(0, d - 1)) for d in arr.shape)
        arr[idx] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return arr
    if rule == "range":
        arr = np.full((n, size, size, 3), 0.5, np.float64)
        idx = tuple(draw(st.integers(0, d - 1)) for d in arr.shape)
        arr[idx] = draw(st.one_of(st.floats(1.0001, 1e6), st.floats(-1e6, -1e-4)))
        return arr
    if rule == "dtype":
        dtype = draw(st.sampled_from([np.bool_, np.complex64, np.int16, np.int32, np.uint16, np.int8]))
        return np.zeros((n, size, size, 3), dtype)
    if rule == "square":
        other = draw(_sizes.filter(lambda s: s != size))
        return np.zeros((n, size, other, 3), np.uint8)
    if rule == "small":
        small = draw(st.integers(4, 31))
        return np.zeros((n, small, small, 3), np.uint8)
    return np.zeros((n, size, size, draw(st.sampled_from([1, 2, 4]))), np.uint8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed())
def test_property_malformed_arrays_are_refused(array: np.ndarray) -> None:
    with pytest.raises(SubmissionError) as info:
        validate_array(array)
    assert "\n" not in str(info.value) and "expected" in str(info.value)


@settings(max_examples=30, deadline=None)
@given(
    hnp.arrays(
        np.float64, st.tuples(st.integers(1, 3), st.just(32), st.just(32), st.just(3)), elements=st.floats(0, 1)
    ),
    st.sampled_from(["uint8", "float32", "float64", "channel_first"]),
)
def test_property_valid_arrays_are_accepted_in_unit_range(array: np.ndarray, form: str) -> None:
    if form == "uint8":
        array = np.rint(array * 255).astype(np.uint8)
    elif form == "channel_first":
        array = array.transpose(0, 3, 1, 2)
    else:
        array = array.astype(form)
    out = validate_array(array, len(array))
    assert out.shape == (len(array), 32, 32, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
