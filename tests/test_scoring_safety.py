"""Bad input and safety of scoring and the leaderboard: every item of the adversarial pass.

Each bad input gives one line and a non-zero exit, is refused before any work, and leaves
the leaderboard unchanged; everything rendered from a row is escaped.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from fmri_bench.cli import main
from fmri_bench.errors import FmriBenchError
from fmri_bench.leaderboard import Leaderboard, render_html, render_markdown, render_terminal
from fmri_bench.metrics.references import CHANCE_NAME

sys.path.insert(0, str(Path(__file__).parent))
from _score_home import make_home

PIXEL = "pixel_mse"


@pytest.fixture
def env(tmp_path: Path) -> dict:
    home = make_home(tmp_path / "home", n_test=6, size=32)
    sub = tmp_path / "sub.npy"
    np.save(sub, np.load(home / "synthetic" / "v1" / "images_test.npy"))
    return {"home": home, "sub": sub, "board": tmp_path / "board"}


def _score(env: dict, *extra: str, path: Path | None = None) -> int:
    args = ["score", str(path or env["sub"]), "--data-home", str(env["home"]), "--leaderboard", str(env["board"])]
    return main([*args, *extra])


def _one_line_error(capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in err and all(e in err for e in expected), err
    return err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return (
        {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        if folder.exists()
        else {}
    )


def test_reference_row_names_are_refused_from_name_and_sidecar(env: dict, capsys) -> None:
    assert _score(env, "--name", "first") == 0
    before = _snapshot(env["board"])
    capsys.readouterr()
    for name in (CHANCE_NAME, " Chance  (mean train image) ", "oracle (true encoding model)", "line\nbreak", ""):
        assert _score(env, "--name", name) == 2
        _one_line_error(capsys)
    env["sub"].with_suffix(".json").write_text(json.dumps({"name": CHANCE_NAME}))
    assert _score(env) == 2
    _one_line_error(capsys, "belongs to a reference row")
    assert _snapshot(env["board"]) == before
    # The store refuses too (a record written by another tool): no silent overwrite either way.
    board = Leaderboard(env["board"])
    chance = next(r for r in board.rows() if r["name"] == CHANCE_NAME)
    with pytest.raises(FmriBenchError, match="belongs to a reference row"):
        board.upsert(chance | {"reference": False})


def test_a_blank_name_writes_nothing(env: dict, capsys) -> None:
    assert _score(env, "--name", "  ") == 2
    _one_line_error(capsys, "blank")
    assert not env["board"].exists()  # checked before the reference rows were written


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"method": NaN}', "NaN is not a JSON number"),
        ('{"x": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
        ('{"x": ' + "[" * 20 + "]" * 20 + "}", "nested too deeply"),
        ('{"x": ' + "9" * 5000 + "}", "not valid JSON"),
        ('{"x": "' + "a" * (70 * 1024) + '"}', "at most 65,536 bytes"),
    ],
)
def test_sidecars_are_validated_and_bounded(env: dict, capsys, content: str, expected: str) -> None:
    env["sub"].with_suffix(".json").write_text(content)
    capsys.readouterr()
    assert _score(env) == 2
    _one_line_error(capsys, expected)
    assert not env["board"].exists()


def _header_only(path: Path, shape: tuple[int, ...], dtype: str = "<f4") -> None:
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"\0" * 64)


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((6, 2_000_000, 2_000_000, 3), "at most 1024 px"),  # 27 TiB declared
        ((6, 2048, 2048, 3), "at most 1024 px"),
        ((6, 64, 64, 3), "header declares 294,912 bytes of data but the file holds 64"),
        ((7, 64, 64, 3), "expected 6"),
    ],
)
def test_submissions_are_bounded_from_their_header(env: dict, capsys, tmp_path: Path, shape, expected: str) -> None:
    path = tmp_path / "crafted.npy"
    _header_only(path, shape)
    capsys.readouterr()
    assert _score(env, path=path) == 2
    _one_line_error(capsys, expected)


def test_tampered_targets_are_refused_before_scoring(env: dict, capsys) -> None:
    test = env["home"] / "synthetic" / "v1" / "images_test.npy"
    np.save(test, np.load(test).astype(np.float32))  # re-saved as float 0-255
    capsys.readouterr()
    assert _score(env) == 1
    _one_line_error(capsys, "sha256 differs", "manifest.json")
    assert not env["board"].exists()


def test_a_malformed_record_line_is_reported_and_kept(env: dict, capsys, caplog) -> None:
    assert _score(env, "--name", "first") == 0
    record = env["board"] / "results.jsonl"
    good = record.read_text()
    record.write_text('{"kind": "reconstruction"}\n' + good + "not json at all\n")
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="fmri_bench"):
        assert _score(env, "--name", "second") == 0
        assert main(["leaderboard", "--leaderboard", str(env["board"]), "--format", "markdown"]) == 0
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "results.jsonl:1: skipped" in messages and "not json" not in messages
    assert f"results.jsonl:{len(good.splitlines()) + 2}: skipped" in messages
    names = {r["name"] for r in Leaderboard(env["board"]).rows()}
    assert {"first", "second"} <= names
    text = record.read_text()
    assert '{"kind": "reconstruction"}' in text and "not json at all" in text  # nothing lost


def test_waiting_for_the_lock_is_said_and_gives_up_in_one_line(env: dict, monkeypatch, caplog) -> None:
    from filelock import FileLock

    import fmri_bench.leaderboard.store as store

    env["board"].mkdir()
    monkeypatch.setattr(store, "LOCK_TIMEOUT_S", 2.0)
    holder = FileLock(str(env["board"] / ".results.jsonl.lock"))
    holder.acquire()
    try:
        with caplog.at_level(logging.WARNING, logger="fmri_bench"), pytest.raises(FmriBenchError) as info:
            Leaderboard(env["board"]).render()
    finally:
        holder.release()
    assert "waiting for the leaderboard lock" in caplog.text
    assert "stayed locked for 2 s" in str(info.value) and "\n" not in str(info.value)


def test_checks_before_work_leaderboard_file_and_templates(env: dict, capsys, tmp_path: Path) -> None:
    a_file = tmp_path / "board.txt"
    a_file.write_text("x")
    capsys.readouterr()
    assert main(["score", str(env["sub"]), "--data-home", str(env["home"]), "--leaderboard", str(a_file)]) == 1
    _one_line_error(capsys, "not a folder")
    for template in ("out/{subj}.npy", "out/{subject.npy", "out/{subject}}.npy"):
        assert _score(env, "--subject", "all", path=Path(template)) == 2
        _one_line_error(capsys, "placeholder")
    assert main(["score", str(env["sub"]), "--protocol", "nope", "--no-record", "--data-home", str(env["home"])]) == 1
    _one_line_error(capsys, "unknown protocol 'nope'", "mindeye")
    assert not env["board"].exists()


def test_rows_scored_with_uncertified_modules_are_never_recorded(env: dict) -> None:
    row = {
        "kind": "reconstruction", "name": "mine", "dataset": "synthetic", "version": "v1", "subject": "sub-01",
        "protocol": "mindeye", "protocol_version": 1, "certified_weights": False, "metrics": {PIXEL: 0.1},
    }  # fmt: skip
    with pytest.raises(FmriBenchError, match="not the certified weights"):
        Leaderboard(env["board"]).upsert(row)
    assert not (env["board"] / "results.jsonl").exists()


CRAFTED = "<script>alert(1)</script>\n| x | `y` [z](http://e.vil) \x1b[31mRED\x1b[0m"


def _crafted_rows() -> list[dict]:
    base = {"dataset": "synthetic", "version": "v1", "subject": "sub-01"}
    recon = base | {
        "kind": "reconstruction", "name": CRAFTED, "protocol": "mindeye", "protocol_version": 1,
        "metrics": {PIXEL: 0.1, "pixcorr": None}, "unavailable": {"pixcorr": CRAFTED},
        "gallery": 'x" onerror="alert(1)', "sidecar": {"method": CRAFTED},
    }  # fmt: skip
    details = {"split": '"><img src=x onerror="window.pwned=1">', "n_pairs": 10}
    classification = base | {
        "kind": "classification", "name": "svm", "metrics": {"accuracy": 0.7, "chance": 0.5, "p_value": 0.01},
        "intervals": {"accuracy": [0.6, 0.8]}, "details": details,
    }  # fmt: skip
    return [recon, classification]


def test_everything_rendered_from_a_row_is_escaped() -> None:
    rows = _crafted_rows()
    md = render_markdown(rows)
    results = md.split("## Results")[-1]
    assert "<script>" not in results and "&lt;script&gt;" in results
    assert "\x1b" not in results and "[z](http" not in results  # brackets escaped: no link
    import re

    recon_table = [ln for ln in results.split("###")[1].splitlines() if ln.startswith("|")]
    cells = {len(re.findall(r"(?<!\\)\|", ln)) for ln in recon_table}
    assert len(recon_table) == 3 and len(cells) == 1  # header, rule, the crafted row: one table, intact
    page = render_html(rows)
    assert "<script>alert" not in page and "<img src=x" not in page and 'onerror="' not in page
    assert 'x" onerror' not in page  # a crafted gallery reference is dropped
    buffer = io.StringIO()
    render_terminal(rows, console=Console(file=buffer, width=200, force_terminal=False))
    out = buffer.getvalue()
    assert "\x1b" not in out and "RED" in out
