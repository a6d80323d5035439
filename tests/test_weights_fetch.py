"""``fmri-bench weights fetch`` against a small HTTP server on 127.0.0.1 serving ../shared/weights.

The server serves the real offline weight files complete, cut short (the connection drops
after half the bytes), or with one byte flipped; it honours ``Range`` requests, and records
the ``Range`` header of every request so that a resume can be told from a fresh download.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fmri_bench.cli import main
from fmri_bench.download import part_path
from fmri_bench.errors import NetworkError
from fmri_bench.weights import WeightsError, checkpoints_dir, fetch_weights, file_states, resolve

SQUEEZE = "squeezenet1_0-imagenet-deepcompression.pth"


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    mode = "complete"  # or "truncate", "corrupt"
    ranges: list[str | None] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        if name not in self.files:
            self.send_error(404)
            return
        data = self.files[name]
        if self.mode == "corrupt":
            data = data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]
        header = self.headers.get("Range")
        type(self).ranges.append(header)
        start = int(header.split("=")[1].split("-")[0]) if header else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        body = data[start:]
        if self.mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server(shared_weights: Path) -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"files": {SQUEEZE: (shared_weights / SQUEEZE).read_bytes()}, "ranges": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def test_a_complete_download_is_verified_and_installed(server, shared_weights: Path) -> None:
    url, handler = server
    # The official SqueezeNet file is not on the mirror (404): the next accepted file is fetched.
    path = fetch_weights("squeezenet1_0", mirror=url)
    assert path == checkpoints_dir() / SQUEEZE and path.read_bytes() == (shared_weights / SQUEEZE).read_bytes()
    assert resolve("squeezenet1_0").available and not part_path(path).exists()
    assert [s.state for s in file_states() if s.filename == SQUEEZE] == ["verified"]
    fetch_weights("squeezenet1_0", mirror=url)  # present and verified: nothing downloaded again
    assert handler.ranges == [None]


def test_a_truncated_download_is_kept_and_resumed(server, shared_weights: Path) -> None:
    url, handler = server
    handler.mode = "truncate"
    with pytest.raises(NetworkError, match="run the same command again to resume") as info:
        fetch_weights("squeezenet1_0", mirror=url)
    assert "\n" not in str(info.value)
    part = part_path(checkpoints_dir() / SQUEEZE)
    kept = part.stat().st_size
    assert 0 < kept < (shared_weights / SQUEEZE).stat().st_size
    assert [s.state for s in file_states() if s.filename == SQUEEZE] == ["partial"]
    assert not resolve("squeezenet1_0").available
    handler.mode = "complete"
    path = fetch_weights("squeezenet1_0", mirror=url)
    assert handler.ranges[-1] == f"bytes={kept}-"  # resumed where it stopped, not downloaded again
    assert path.read_bytes() == (shared_weights / SQUEEZE).read_bytes() and not part.exists()


def test_a_corrupted_download_is_deleted_and_said_so(server, capsys: pytest.CaptureFixture[str]) -> None:
    url, handler = server
    handler.mode = "corrupt"
    capsys.readouterr()
    assert main(["weights", "fetch", "squeezenet1_0", "--from", url]) == 1
    err = capsys.readouterr().err.strip()
    assert "downloading" in err and "5.0 MB" in err.replace("\n", " ")  # the size is shown first
    last = err.splitlines()[-1]
    assert last.startswith("error: ") and "checksum mismatch" in last and "the download was deleted" in last
    assert not list(checkpoints_dir().glob("*squeezenet1_0*")) and not resolve("squeezenet1_0").available


def test_no_network_gives_one_line_within_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    import socket
    import time

    with socket.socket() as s:  # a port nobody listens on: connection refused, as without a network
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    capsys.readouterr()
    assert main(["weights", "fetch", "alexnet", "--from", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err.strip()
    assert time.perf_counter() - start < 10
    assert err.startswith("error: could not download") and "\n" not in err and "network" in err
    assert main(["weights", "fetch"]) == 1 and "--all" in capsys.readouterr().err
    assert main(["weights", "fetch", "vgg99"]) == 1 and "unknown backbone" in capsys.readouterr().err


def test_a_file_without_a_published_checksum_needs_a_pin(server, shared_weights: Path, tmp_path: Path) -> None:
    """SwAV: never accepted by structure alone; pinned on download from a URL, or by --sha256."""
    import hashlib

    import torch

    from fmri_bench._torchvision import torchvision
    from fmri_bench.weights import import_weights

    random_resnet = tmp_path / "swav_800ep_pretrain.pth.tar"
    torch.save(torchvision.models.resnet50().state_dict(), random_resnet)
    with pytest.raises(WeightsError, match="no published checksum"):
        import_weights("resnet50_swav", random_resnet)
    digest = hashlib.sha256(random_resnet.read_bytes()).hexdigest()
    with pytest.raises(WeightsError, match="not a resnet50_swav checkpoint"):  # vouched for, still not SwAV
        import_weights("resnet50_swav", random_resnet, sha256=digest)
    # A file dropped into the cache by hand, without a pin, is not used.
    checkpoints_dir().mkdir(parents=True, exist_ok=True)
    (checkpoints_dir() / random_resnet.name).write_bytes(random_resnet.read_bytes())
    reason = resolve("resnet50_swav").reason
    assert "no published checksum and no pin" in reason
    # A SwAV-shaped checkpoint fetched from a URL is pinned to what was downloaded.
    state = {f"module.{k}": v for k, v in torchvision.models.resnet50().state_dict().items() if not k.startswith("fc.")}
    state["module.prototypes.weight"] = torch.zeros(3, 2)
    swav = tmp_path / "served" / random_resnet.name
    swav.parent.mkdir()
    torch.save(state, swav)
    (checkpoints_dir() / random_resnet.name).unlink()
    url, handler = server
    handler.files[random_resnet.name] = swav.read_bytes()
    path = fetch_weights("swav", mirror=url)
    resolved = resolve("resnet50_swav")
    assert resolved.available and resolved.path == path
    assert [s.state for s in file_states() if s.backbone == "resnet50_swav"] == ["pinned"]
