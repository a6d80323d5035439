"""The HTML leaderboard in a real headless Chromium: the table renders, a column sorts, images load.

The page carries a small self-test: with ``#selftest`` in the URL it clicks the first
numeric column header twice and writes the column's order and every image's naturalWidth
into ``<pre id="selftest">``; ``chromium --dump-dom`` gives us the DOM after that ran.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fmri_bench.leaderboard import Leaderboard, grid_png

CHROMIUM = (
    shutil.which("chromium")
    or shutil.which("chromium-browser")
    or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium); the HTML leaderboard is not checked"
)


def _row(name: str, pixel_mse: float | None, subject: str = "sub-01") -> dict:
    return {
        "kind": "reconstruction",
        "name": name,
        "dataset": "synthetic",
        "version": "v1",
        "subject": subject,
        "metrics": {"pixel_mse": pixel_mse, "pixcorr": 0.5},
        "unavailable": {} if pixel_mse is not None else {"pixel_mse": "a reason"},
    }


def _dump_dom(page: Path, profile: Path) -> str:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        f"{page.as_uri()}#selftest",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_html_leaderboard_renders_sorts_and_loads_gallery_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    board = Leaderboard(tmp_path / "board")
    for name, value in (("b", 0.30), ("a", 0.10), ("d", None), ("c", 0.20)):
        images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
        board.upsert(_row(name, value), gallery_png=grid_png(images, images, thumb=32, per_row=3))
    dom = _dump_dom(tmp_path / "board" / "index.html", tmp_path / "profile")
    match = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
    assert match, "the page's self-test did not run"
    result = json.loads(html.unescape(match.group(1)))
    assert result["tables"] == 1 and result["rows"] == 4 and result["column"] == "pixel_mse"
    assert result["before"] == ["0.1", "0.3", "0.2", ""]  # recorded order: by name (a, b, c, d)
    assert result["ascending"] == ["0.1", "0.2", "0.3", ""]  # n/a sorts last
    assert result["descending"] == ["0.3", "0.2", "0.1", ""]
    assert len(result["images"]) == 4
    for image in result["images"]:
        assert image["src"].startswith("gallery/") and image["naturalWidth"] > 0
    assert "n/a" in dom and "a reason" in dom


def test_html_leaderboard_shows_protocols_references_and_runs_no_crafted_script(tmp_path: Path) -> None:
    base = {"kind": "reconstruction", "dataset": "synthetic", "version": "v1", "subject": "sub-01"}
    rows = []
    for protocol, metric in (("mindeye", "pixcorr"), ("kamitani", "pattern_corr")):
        proto = {"protocol": protocol, "protocol_version": 1}
        rows.append(base | proto | {"name": "chance (mean train image)", "reference": True, "metrics": {metric: 0.1}})
        rows.append(
            base | proto | {"name": "resolution reference (32 px blur)", "reference": True, "metrics": {metric: 0.9}}
        )
        rows.append(base | proto | {"name": "method", "metrics": {metric: 0.5}})
    crafted = {"split": '"><img src=x onerror="window.pwned=1">', "n_pairs": 5}
    rows.append(base | {"kind": "classification", "name": '<img src=x onerror="window.pwned=1">',
                        "metrics": {"accuracy": 0.7, "chance": 0.5, "p_value": 0.01}, "details": crafted})  # fmt: skip
    board = Leaderboard(tmp_path / "board")
    for row in rows:
        board.upsert(row)
    dom = _dump_dom(tmp_path / "board" / "index.html", tmp_path / "profile")
    match = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
    assert match, "the page's self-test did not run"
    result = json.loads(html.unescape(match.group(1)))
    assert result["tables"] == 3 and result["pwned"] is False
    titles = " ".join(result["titles"])
    assert "protocol mindeye v1" in titles and "protocol kamitani v1" in titles
    assert sorted(result["references"]) == sorted(
        ["chance (mean train image)", "resolution reference (32 px blur)"] * 2
    )
