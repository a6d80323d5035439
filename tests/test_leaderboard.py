"""The leaderboard record: upsert, ordering, renderings, concurrency and crash safety."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
from pathlib import Path

import pytest
from rich.console import Console

from fmri_bench.cli import main
from fmri_bench.errors import FmriBenchError
from fmri_bench.leaderboard import (
    Leaderboard,
    build_tables,
    render_csv,
    render_html,
    render_markdown,
    render_terminal,
)


def row(
    name: str,
    subject: str = "sub-01",
    *,
    pixcorr: float | None = 0.5,
    ident: float = 0.8,
    dataset: str = "synthetic",
    version: str = "v1",
    reference: bool = False,
) -> dict:
    return {
        "kind": "reconstruction",
        "name": name,
        "dataset": dataset,
        "version": version,
        "subject": subject,
        "reference": reference,
        "metrics": {"pixcorr": pixcorr, "pixel_mse": 0.1, "pixel_identification": ident, "alexnet2": None},
        "unavailable": {"alexnet2": "weights for alexnet not found"}
        | ({} if pixcorr is not None else {"pixcorr": "why"}),
        "intervals": {"pixel_identification": [ident - 0.1, min(1.0, ident + 0.1)]},
        "submission_sha256": "ab" * 32,
        "metrics_version": 1,
        "date": "2026-01-01T00:00:00+00:00",
    }


def svm_row(subject: str = "sub-01") -> dict:
    return {
        "kind": "classification",
        "name": "svm-sanity",
        "dataset": "synthetic",
        "version": "v1",
        "subject": subject,
        "metrics": {"accuracy": 0.9, "chance": 0.5, "p_value": 1e-9},
        "intervals": {"accuracy": [0.85, 0.94]},
        "details": {"n_pairs": 120},
    }


def test_upsert_replaces_the_same_key_and_keeps_a_stable_order(tmp_path: Path) -> None:
    board = Leaderboard(tmp_path)
    board.upsert(row("zeta"))
    board.upsert(row("alpha", pixcorr=0.7))
    board.upsert(row("chance", reference=True))
    board.upsert(svm_row())
    board.upsert(row("alpha", pixcorr=0.9))  # same key: replaced
    rows = board.rows()
    assert [(r["name"], r["kind"]) for r in rows] == [
        ("chance", "reconstruction"),
        ("alpha", "reconstruction"),
        ("zeta", "reconstruction"),
        ("svm-sanity", "classification"),
    ]
    assert next(r for r in rows if r["name"] == "alpha")["metrics"]["pixcorr"] == 0.9
    text = (tmp_path / "results.jsonl").read_text()
    assert len(text.splitlines()) == 4
    assert all(list(json.loads(line)) == sorted(json.loads(line)) for line in text.splitlines())
    # Upserting the same rows in another order gives the same bytes (diffable).
    other = Leaderboard(tmp_path / "b")
    for r in reversed(rows):
        other.upsert(r)
    assert (tmp_path / "b" / "results.jsonl").read_text() == text


def test_invalid_rows_are_refused(tmp_path: Path) -> None:
    board = Leaderboard(tmp_path)
    with pytest.raises(FmriBenchError, match="kind"):
        board.upsert(row("x") | {"kind": "other"})
    with pytest.raises(FmriBenchError, match="finite number"):
        board.upsert(row("x") | {"metrics": {"pixcorr": float("nan")}})
    with pytest.raises(FmriBenchError, match="non-empty string"):
        board.upsert(row("x") | {"subject": ""})
    assert not (tmp_path / "results.jsonl").exists()


def test_markdown_marks_best_and_means_over_subjects(tmp_path: Path) -> None:
    board = Leaderboard(tmp_path)
    board.upsert(row("ceiling", pixcorr=0.99, reference=True))
    board.upsert(row("a", "sub-01", pixcorr=0.6))
    board.upsert(row("a", "sub-02", pixcorr=0.8))
    board.upsert(row("b", "sub-01", pixcorr=0.7))
    board.upsert(row("b", "sub-02", pixcorr=None))
    board.upsert(svm_row())
    md = (tmp_path / "README.md").read_text()
    assert "## Submission format" in md and "| `pixcorr` | PixCorr |" in md  # contract + definitions
    assert "**0.800**" in md and "**0.990**" not in md  # the best submission, never a reference
    assert "0.700 ± 0.141" in md  # mean ± sd of a over its two subjects
    assert "0.800 [0.700, 0.900]" in md  # identification with its interval
    assert "*(reference)*" in md and "### synthetic v1 (classification)" in md
    assert "n/a in PixCorr: why" in md and "n/a in AlexNet(2): weights for alexnet not found" in md
    tables = build_tables(board.rows())
    mean_b = next(ln for ln in tables[0].lines if ln.name == "b" and ln.aggregate)
    # one definition of a mean over subjects: n/a unless every subject has the value
    assert mean_b.cells["pixcorr"].value is None and mean_b.n_subjects == 2
    assert "every subject" in mean_b.cells["pixcorr"].reason or mean_b.cells["pixcorr"].reason == "why"


def test_csv_has_a_header_and_name_column_and_terminal_shows_na(tmp_path: Path) -> None:
    rows = [row("a", "sub-01"), row("a", "sub-02", pixcorr=0.7), svm_row(), row("x", dataset="other")]
    text = render_csv(rows, dataset="synthetic")
    records = list(csv.DictReader(io.StringIO(text)))
    assert "name" in records[0] and {r["name"] for r in records} == {"a", "svm-sanity"}
    mean = next(r for r in records if r["aggregate"] == "1")
    assert float(mean["pixcorr"]) == pytest.approx(0.6) and float(mean["pixcorr_sd"]) > 0
    first = next(r for r in records if r["subject"] == "sub-01" and r["name"] == "a")
    assert first["alexnet2"] == "" and "alexnet2: weights for alexnet not found" in first["unavailable"]
    assert float(first["pixel_identification_ci_low"]) == pytest.approx(0.7)
    buffer = io.StringIO()
    render_terminal(rows, console=Console(file=buffer, width=250))
    out = buffer.getvalue()
    assert "n/a" in out and "n/a in AlexNet(2): weights for alexnet not found" in out and "svm-sanity" in out


def test_leaderboard_cli_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    board = Leaderboard(tmp_path)
    board.upsert(row("a"))
    board.upsert(row("b", version="v2"))
    capsys.readouterr()
    assert main(["leaderboard", "--leaderboard", str(tmp_path), "--format", "csv", "--version", "v2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("kind,dataset,version,protocol,protocol_version,name,") and len(lines) == 2
    assert ",b," in lines[1]
    assert main(["leaderboard", "--leaderboard", str(tmp_path), "--format", "html"]) == 0
    assert '<table class="board"' in capsys.readouterr().out
    assert main(["leaderboard", "--leaderboard", str(tmp_path), "--format", "nope"]) != 0


def _upsert_many(folder: str, worker: int, count: int) -> None:
    board = Leaderboard(folder)
    for i in range(count):
        board.upsert(row(f"w{worker}-{i}", pixcorr=0.1 * (i + 1)), gallery_png=b"\x89PNG fake")


def test_concurrent_upserts_all_land(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_upsert_many, args=(str(tmp_path), w, 4)) for w in range(5)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    names = {r["name"] for r in Leaderboard(tmp_path).rows()}
    assert names == {f"w{w}-{i}" for w in range(5) for i in range(4)}
    md = (tmp_path / "README.md").read_text()
    assert all(f"w{w}-3" in md for w in range(5))
    assert not list(tmp_path.glob(".*.tmp*"))


def test_a_crash_mid_write_leaves_the_previous_record_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    board = Leaderboard(tmp_path)
    board.upsert(row("kept"))
    before = (tmp_path / "results.jsonl").read_bytes()
    real_write = Path.write_text

    def crash(self: Path, data: str, *args, **kwargs):  # write half, then die
        if self.name.startswith(".results.jsonl"):
            real_write(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError("disk full")
        return real_write(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", crash)
    with pytest.raises(OSError, match="disk full"):
        board.upsert(row("lost"))
    monkeypatch.undo()
    assert (tmp_path / "results.jsonl").read_bytes() == before
    assert [r["name"] for r in board.rows()] == ["kept"]
    assert not list(tmp_path.glob(".results.jsonl.*.tmp"))


def test_render_html_is_self_contained(tmp_path: Path) -> None:
    html = render_html([row("a <b>"), svm_row()])
    assert "a &lt;b&gt;" in html and "<script>" in html
    assert "http://" not in html and "https://" not in html  # no CDN: works offline from file://
    assert render_markdown([]).count("_No results recorded yet._") == 1


def test_numpy_numbers_are_stored_as_plain_json(tmp_path: Path) -> None:
    import numpy as np

    board = Leaderboard(tmp_path)
    r = svm_row() | {
        "metrics": {"accuracy": np.float32(0.75), "n_pairs": np.int64(12)},
        "extra": {"per_run": np.array([0.5, 1.0])},
    }
    board.upsert(r)
    stored = json.loads((tmp_path / "results.jsonl").read_text())
    assert stored["metrics"] == {"accuracy": 0.75, "n_pairs": 12} and stored["extra"]["per_run"] == [0.5, 1.0]
    with pytest.raises(FmriBenchError, match="finite number"):
        board.upsert(svm_row() | {"metrics": {"accuracy": np.float64("inf")}})


def real_svm_row(
    subject: str = "sub-01",
    *,
    accuracy: float = 0.71375,
    p_value: float = 9.5e-68,
    split: str = "test",
    version: str = "v1",
    n_pairs: int = 200,
) -> dict:
    """A classification row as the pipeline records svm-sanity (leaderboard.rows.classification_row)."""
    from fmri_bench.leaderboard import classification_row

    result = {
        "accuracy": accuracy,
        "ci95": [accuracy - 0.0226, accuracy + 0.0217],
        "chance": 0.5,
        "p_value": p_value,
        "details": {"split": split, "n_pairs": n_pairs, "n_test_blocks": 1600, "n_components": 300},
    }
    return classification_row(
        result, {"baseline": "svm-sanity", "dataset": "synthetic", "version": version, "subject": subject, "seed": 0}
    )


SVM_ROWS = [
    real_svm_row("sub-01"),
    real_svm_row("sub-02", accuracy=0.7, p_value=2.5e-59),
    real_svm_row("sub-03", accuracy=0.681875, p_value=3.6e-49),
]


def test_classification_table_has_the_schema_columns_whatever_the_check() -> None:
    (table,) = build_tables(SVM_ROWS)
    assert [k for k, _, _ in table.shown_columns] == ["accuracy", "chance", "p_value", "details"]
    renamed = [r | {"name": "my-check"} for r in SVM_ROWS]  # nothing depends on the check's name
    assert [k for k, _, _ in build_tables(renamed)[0].shown_columns] == ["accuracy", "chance", "p_value", "details"]
    records = list(csv.DictReader(io.StringIO(render_csv(SVM_ROWS))))
    first = next(r for r in records if r["subject"] == "sub-01")
    assert float(first["p_value"]) == pytest.approx(9.5e-68) and float(first["accuracy_ci_low"]) == pytest.approx(
        0.69115
    )
    assert "n_test_blocks=1600" in first["details"] and "split=test" in first["details"]
    mean = next(r for r in records if r["aggregate"] == "1")
    assert float(mean["accuracy"]) == pytest.approx((0.71375 + 0.7 + 0.681875) / 3)


def test_classification_markdown_and_html_show_accuracy_with_its_interval() -> None:
    md = render_markdown(SVM_ROWS)
    assert "| entry | subject | Accuracy [95% CI] | chance | p-value | details |" in md
    assert (
        "| svm-sanity | sub-01 | **0.714 [0.691, 0.735]** | 0.500 | 9.5e-68 | "
        "n_components=300, n_pairs=200, n_test_blocks=1600, split=test |"
    ) in md
    # mean line: accuracy mean ± sd, the setting once, the largest p-value (not a mean of p-values)
    assert "| svm-sanity | *mean ± sd (3 subjects)* | 0.699 ± 0.016 | 0.500 | ≤ 3.6e-49 |" in md
    page = render_html(SVM_ROWS)
    section = page.split("synthetic v1 (classification)")[1]
    assert ">0.714 [0.691, 0.735]<" in section and '<th data-type="text" data-key="details"' in section


@pytest.mark.parametrize("width", [80, 120])
def test_classification_terminal_table_is_readable(width: int) -> None:
    buffer = io.StringIO()
    render_terminal(
        SVM_ROWS + [real_svm_row("sub-01", version="v2", accuracy=0.54, p_value=0.000745)],
        console=Console(file=buffer, width=width),
    )
    out = buffer.getvalue()
    assert "…" not in out  # nothing truncated
    assert "9.5e-68" in out and "≤ 3.6e-49" in out and "0.000745" in out and "split=test" in out.replace("\n", "")
    if width >= 120:  # one line per subject: the interval in the same cell
        assert "0.714 [0.691, 0.735]" in out and "0.699 ±0.016" in out
    else:  # at 80 columns the interval wraps inside its cell, whole numbers only
        assert "0.714" in out and "[0.691," in out and "0.735]" in out


def test_classification_mean_line_with_differing_settings_shows_each() -> None:
    rows = [real_svm_row("sub-01"), real_svm_row("sub-02", split="train", n_pairs=100)]
    md = render_markdown(rows)
    assert "| *mean ± sd (2 subjects)* |" in md and "n_pairs=200/100" in md and "split=test/train" in md
    assert "0.900 [0.850, 0.940]" in render_markdown([svm_row()])


def test_a_rounding_noise_spread_reads_as_zero() -> None:
    from fmri_bench.leaderboard import Cell, format_cell

    assert format_cell(Cell(value=0.984, sd=1.36e-16)) == "0.984 ± 0"
    assert format_cell(Cell(value=0.028, sd=0.00013)) == "0.028 ± 0.00013"


def test_tables_never_mix_protocols_and_show_protocol_version_and_references() -> None:
    rows = []
    for protocol, version in (("mindeye", 1), ("brain-diffuser", 1), ("mindeye", 2)):
        extra = {"protocol": protocol, "protocol_version": version}
        rows += [row("chance", reference=True) | extra, row("a", pixcorr=0.6) | extra]
    rows.append(row("old"))  # recorded before protocols: its own table
    tables = build_tables(rows)
    assert [t.protocol_label for t in tables] == [
        "none (metrics v1, before protocols)", "brain-diffuser v1", "mindeye v1", "mindeye v2",
    ]  # fmt: skip
    assert all({ln.name for ln in t.lines} <= {"chance", "a", "old"} for t in tables)
    md = render_markdown(rows)
    assert "### synthetic v1 (reconstruction) · protocol mindeye v1" in md
    assert "### synthetic v1 (reconstruction) · protocol brain-diffuser v1" in md
    assert md.count("| chance *(reference)* |") == 3
    assert "### Protocol `kamitani` (version 1)" in md and "bdpy" in md  # definitions and sources
    buffer = io.StringIO()
    render_terminal(rows, console=Console(file=buffer, width=200))
    out = buffer.getvalue()
    assert "protocol mindeye v2" in out and "protocol brain-diffuser v1" in out and "chance (ref)" in out
    records = list(csv.DictReader(io.StringIO(render_csv(rows))))
    assert {(r["protocol"], r["protocol_version"]) for r in records} >= {("mindeye", "2"), ("brain-diffuser", "1")}


def test_rows_read_as_a_share_of_the_ceiling_row_per_subject() -> None:
    """With a ceiling row (the synthetic oracle), each line's PixCorr is divided by its own subject's ceiling."""
    oracle = [
        dict(row("oracle", s, pixcorr=p, reference=True), ceiling=True) for s, p in (("sub-01", 0.8), ("sub-02", 0.5))
    ]
    rows = [*oracle, row("a", "sub-01", pixcorr=0.4), row("a", "sub-02", pixcorr=0.4), row("chance", reference=True)]
    (table,) = build_tables(rows)
    assert table.columns[-1][1] == "PixCorr / ceiling"
    share = {(ln.name, ln.subject): ln.cells["pixcorr_share_of_ceiling"] for ln in table.lines}
    assert share[("a", "sub-01")].value == pytest.approx(0.5) and share[("a", "sub-02")].value == pytest.approx(0.8)
    mean = next(c for (n, s), c in share.items() if n == "a" and s.startswith("mean"))
    assert mean.value == pytest.approx(0.65) and mean.sd == pytest.approx(0.2121, abs=1e-3)
    assert share[("oracle", "sub-01")].value == pytest.approx(1.0) and share[("chance", "sub-01")].value == 0.625
    assert "PixCorr / ceiling" in render_markdown(rows)
    assert all(c[0] != "pixcorr_share_of_ceiling" for c in build_tables(rows[2:])[0].columns)  # no ceiling, no column
