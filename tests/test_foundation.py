"""The foundation: packaging, the torchvision shim, atomic I/O, registries and CLI error handling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fmri_bench import cli
from fmri_bench.errors import FmriBenchError, SubmissionError
from fmri_bench.io import atomic_path, load_npy, save_npy_atomic, sha256_file, write_json_atomic
from fmri_bench.paths import data_home, leaderboard_dir
from fmri_bench.registry import Registry


def test_torchvision_shim_gives_models_and_feature_extraction(shared_weights: Path) -> None:
    import torch

    from fmri_bench._torchvision import torchvision

    model = torchvision.models.squeezenet1_0().eval()
    state = torch.load(shared_weights / "squeezenet1_0-imagenet-deepcompression.pth", weights_only=True)
    model.load_state_dict(state)
    extractor = torchvision.models.feature_extraction.create_feature_extractor(model, {"features.12": "fire9"})
    with torch.no_grad():
        out = extractor(torch.zeros(1, 3, 224, 224))["fire9"]
    assert tuple(out.shape) == (1, 512, 13, 13)


def test_torchvision_shim_imports_in_a_fresh_interpreter() -> None:
    # Plain `import torchvision` fails on this CPU torch; through the shim it must not.
    code = "from fmri_bench._torchvision import torchvision, COMPILED_OPS; print(torchvision.__version__, COMPILED_OPS)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("0.28.0")


def test_atomic_path_leaves_destination_untouched_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    write_json_atomic(target, {"a": 1})
    before = target.read_bytes()
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # no temporary left behind


def test_npy_round_trip_and_refuses_pickles(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_npy_atomic(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(load_npy(tmp_path / "a.npy"), array)
    assert len(sha256_file(tmp_path / "a.npy")) == 64
    np.save(tmp_path / "objects.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FmriBenchError, match="Python objects"):
        load_npy(tmp_path / "objects.npy")
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    with pytest.raises(FmriBenchError, match="not a readable .npy"):
        load_npy(tmp_path / "junk.npy")


def test_data_home_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FMRI_BENCH_HOME", str(tmp_path / "env"))
    assert data_home() == (tmp_path / "env").resolve()
    assert data_home(tmp_path / "explicit") == (tmp_path / "explicit").resolve()
    monkeypatch.delenv("FMRI_BENCH_HOME")
    assert data_home() == (Path.home() / "fmri_bench_data").resolve()


def test_leaderboard_default_never_depends_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FMRI_BENCH_HOME", str(tmp_path / "home"))
    expected = (tmp_path / "home" / "leaderboard").resolve()
    repo = Path(__file__).resolve().parents[1]
    for folder in (repo, tmp_path):  # inside the checkout too: the tracked leaderboard/ is not the default
        monkeypatch.chdir(folder)
        assert leaderboard_dir() == expected
    assert leaderboard_dir(tmp_path / "mine") == (tmp_path / "mine").resolve()


def test_registry_lookup_and_duplicate_names() -> None:
    registry: Registry[object] = Registry("widget")

    @registry.register("a")
    class A:
        pass

    assert registry.get("a") is A
    assert registry.names() == ["a"]
    with pytest.raises(FmriBenchError, match="unknown widget 'b'; expected one of: a"):
        registry.get("b")
    with pytest.raises(FmriBenchError, match="registered twice"):
        registry.add("a", object())


def test_cli_error_is_one_line_and_verbose_shows_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    @cli.app.command("_fail-for-test", hidden=True)
    def _fail() -> None:
        raise SubmissionError("submission has 3 images; expected 50")

    assert cli.main(["_fail-for-test"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: submission has 3 images; expected 50"
    assert cli.main(["_fail-for-test", "--verbose"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_console_script_lists_commands() -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(["fmri-bench", "--help"], capture_output=True, text=True, env=env)
    assert result.returncode == 0
    assert "version" in result.stdout


def test_atomic_outputs_get_umask_permissions(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    write_json_atomic(tmp_path / "out.json", {})
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_ctrl_c_prints_one_line_exits_130_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    home = tmp_path / "home"
    env = dict(os.environ, FMRI_BENCH_NO_PROGRESS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fmri_bench.cli", "demo", "--data-home", str(home), "--leaderboard", str(tmp_path / "b")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(home.glob("raw/.synthetic.partial-*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until the simulation is being written
    assert any(home.glob("raw/.synthetic.partial-*")), "the demo never started simulating"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "error: interrupted" and "Traceback" not in err
    assert not list(home.rglob("*partial*")) and not (home / "raw" / "synthetic").exists()


def test_a_ctrl_c_during_the_blas_library_search_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """threadpoolctl searches the libraries through a ctypes callback, where a raised exception is
    swallowed; the search holds SIGINT back, so the Ctrl-C arrives right after it instead."""
    import contextlib
    import ctypes
    import os
    import signal

    import threadpoolctl

    from fmri_bench import threads

    class Interrupted(BaseException):
        pass

    def handler(signum: int, frame: object) -> None:
        raise Interrupted()

    callback_type = ctypes.CFUNCTYPE(ctypes.c_int)

    class SearchingController:
        def __init__(self) -> None:  # the Ctrl-C lands inside a ctypes callback, like dl_iterate_phdr's
            def callback() -> int:
                os.kill(os.getpid(), signal.SIGINT)
                sum(range(10000))  # bytecodes, where an unblocked handler would run (and be swallowed)
                return 0

            callback_type(callback)()

        def limit(self, **kwargs: object):
            return contextlib.nullcontext()

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", SearchingController)
    monkeypatch.setattr(threads, "_controller", None)
    previous = signal.signal(signal.SIGINT, handler)
    try:
        with pytest.raises(Interrupted), threads.single_blas_thread():
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
