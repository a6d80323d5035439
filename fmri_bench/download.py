"""Checksummed, resumable downloads (pooch, with a downloader that resumes).

:func:`download` fetches one URL into a folder with ``pooch.retrieve``: the bytes are
streamed (``requests``) into ``.<name>.part`` beside the destination, so an interrupted
download keeps what it received and the next call asks the server for the rest (an HTTP
``Range`` request; a server that ignores it sends the whole file again). The finished file
is checked (a full sha256 by pooch, or a sha256 prefix as ``torch.hub`` checks torchvision
files) before it is moved into place; a wrong checksum deletes the download and says so.
Without a network the first connection fails within :data:`CONNECT_TIMEOUT_S` seconds with
one line. The size and a progress bar are shown when progress is enabled (the CLI).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fmri_bench.errors import FmriBenchError, NetworkError
from fmri_bench.progress import console, get_logger, progress_enabled

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
_CHUNK = 1 << 20
log = get_logger(__name__)


class ChecksumError(FmriBenchError):
    """A downloaded file whose checksum is not the declared one (it has been deleted)."""


def part_path(destination: Path) -> Path:
    """Where the partial download of ``destination`` is kept between attempts.

    Parameters
    ----------
    destination : Path

    Returns
    -------
    Path
    """
    return destination.parent / f".{destination.name}.part"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class ResumingDownloader:
    """A pooch downloader that appends to a persistent ``.part`` file and resumes it.

    Parameters
    ----------
    part : Path
        The partial file (kept when the transfer is interrupted).
    sha256 : str or None
        The declared sha256, full or a prefix; checked before the file is handed to pooch.
    label : str
        The file's name, for messages.
    """

    def __init__(self, part: Path, sha256: str | None, label: str) -> None:
        self.part = part
        self.sha256 = sha256
        self.label = label

    def __call__(self, url: str, output_file: str, pooch: object, check_only: bool = False) -> None:
        """Fetch ``url`` (resuming ``part``), check it, and move it to ``output_file``.

        Parameters
        ----------
        url : str
        output_file : str
            pooch's temporary file (pooch moves it into place).
        pooch : object
            Unused (pooch's interface).
        check_only : bool
            Unused (pooch's interface).
        """
        import requests

        start = self.part.stat().st_size if self.part.is_file() else 0
        headers = {"Range": f"bytes={start}-"} if start else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)) as resp:
                if resp.status_code == 416 and start:  # nothing left to send: the part is complete
                    pass
                else:
                    if resp.status_code == 404:
                        raise NetworkError(f"{url}: not found (HTTP 404); expected the file {self.label} there")
                    resp.raise_for_status()
                    if start and resp.status_code != 206:  # the server ignored the Range: start over
                        start = 0
                    self._stream(resp, start)
        except requests.exceptions.RequestException as exc:
            kept = self.part.stat().st_size if self.part.is_file() else 0
            detail = type(exc).__name__
            raise NetworkError(
                f"could not download {url} ({detail}); expected a network connection"
                + (f"; {kept:,} bytes kept, run the same command again to resume" if kept else "")
            ) from None
        self._verify()
        os.replace(self.part, output_file)

    def _stream(self, resp, start: int) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        length = int(resp.headers.get("content-length") or 0)
        total = start + length if length else None
        size = f"{total / 1e6:,.1f} MB" if total else "size unknown"
        resumed = f", resuming at {start / 1e6:,.1f} MB" if start else ""
        log.info(f"downloading {self.label} ({size}{resumed}) from {resp.url}")
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with (
            Progress(*columns, console=console, transient=True, disable=not progress_enabled()) as bar,
            open(self.part, "ab" if start else "wb") as out,
        ):
            task = bar.add_task(self.label, total=total, completed=start)
            for chunk in resp.iter_content(chunk_size=_CHUNK):
                if chunk:
                    out.write(chunk)
                    out.flush()
                    bar.advance(task, len(chunk))
        if total is not None and self.part.stat().st_size != total:
            raise NetworkError(f"download of {self.label} stopped early; run the same command again to resume")

    def _verify(self) -> None:
        if self.sha256 is None:
            return
        digest = _sha256(self.part)
        if not digest.startswith(self.sha256):
            self.part.unlink(missing_ok=True)
            raise ChecksumError(
                f"{self.label}: checksum mismatch (sha256 {digest[:16]}..., expected {self.sha256[:16]}...); "
                "the download was deleted; expected the official file (try again, or another mirror with --from)"
            )


def download(url: str, destination: str | os.PathLike[str], sha256: str | None) -> Path:
    """Download ``url`` to ``destination`` (resuming an earlier partial download), checksum checked.

    Parameters
    ----------
    url : str
        The file's URL (http, https).
    destination : path-like
        Where the verified file goes (its folder is created).
    sha256 : str or None
        The declared sha256: 64 hex digits (checked by pooch), a shorter hex prefix (checked
        like ``torch.hub``), or None (nothing to check against).

    Returns
    -------
    Path
        ``destination``.

    Raises
    ------
    NetworkError
        No connection, HTTP error or an interrupted transfer (the partial file is kept).
    ChecksumError
        The file's sha256 is not the declared one (the download is deleted).
    """
    import pooch

    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    full = sha256 is not None and len(sha256) == 64
    downloader = ResumingDownloader(part_path(destination), sha256, destination.name)
    pooch_log = pooch.get_logger()
    level = pooch_log.level
    pooch_log.setLevel("WARNING")  # its INFO lines go to stderr by itself; ours go through logging
    try:
        pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256}" if full else None,
            fname=destination.name,
            path=destination.parent,
            downloader=downloader,
        )
    except ValueError as exc:  # pooch's own hash check
        raise ChecksumError(f"{destination.name}: {str(exc).splitlines()[0]}; the download was deleted") from None
    finally:
        pooch_log.setLevel(level)
    return destination
