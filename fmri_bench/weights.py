"""Backbone declarations and their weight files: what the deep-feature metrics load.

Every deep-feature metric names a *backbone* declared here. A backbone is a torchvision
architecture plus the weight files it accepts, each identified by its file name in the
torch cache (``torch.hub.get_dir()/checkpoints/<filename>``) and by its checksum:

- torchvision's own checkpoints carry the first 8 hex digits of their sha256 in the file
  name (``alexnet-owt-7be5be79.pth``); that prefix is what ``torch.hub`` checks, so it is
  what we check too;
- other files are declared with their full sha256 (the offline SqueezeNet / MobileNetV2
  files of ``../shared/weights``, CLIP ViT-L/14 whose sha256 is in OpenAI's URL);
- the SwAV release publishes no checksum, and none could be found in public sources (its
  README, ``hubconf.py`` and the code that downloads it were searched), so none is invented
  here: the file is accepted only with a *pin*, ``<filename>.sha256`` beside it, written when
  ``fmri-bench weights fetch resnet50_swav`` downloads it from the official URL (trust on
  first use) or when ``fmri-bench weights import resnet50_swav FILE --sha256 HEX`` is given
  the sha256 you vouch for. A ResNet-50 file without a pin (a randomly initialised one, say)
  is never used; every row records the sha256 of the file it used.

A weight file also declares the input normalization and size it was trained with, because
those belong to the weights, not to the metric (MobileNetV2 from the Coral release wants
``Normalize(0.5, 0.5)`` at 225 px; torchvision's wants ImageNet mean/std at 224 px).

Weights come from ``fmri-bench weights fetch`` (:func:`fetch_weights`: the official URL or a
mirror, resumable, checksum checked) or ``fmri-bench weights import`` (a file you have);
nothing is downloaded implicitly. A backbone whose file is absent (or fails its checksum)
is *unavailable* with a reason; metrics that need it report n/a, and no other network is
substituted.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmri_bench.errors import FmriBenchError
from fmri_bench.io import atomic_path, sha256_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class WeightsError(FmriBenchError):
    """A weight file that is not one of the files a backbone accepts."""


@dataclass(frozen=True)
class WeightFile:
    """One accepted weight file of a backbone.

    Attributes
    ----------
    filename : str
        Its name in ``<torch hub dir>/checkpoints/`` (the official name where one exists).
    sha256 : str or None
        The full sha256, or the hex prefix torchvision puts in its file names; None when
        the publisher gives no checksum (then the file is checked by structure only).
    source : str
        Where it comes from (URL or release).
    mean, std : tuple of float
        The per-channel input normalization the weights were trained with (RGB, [0, 1] input).
    input_size : int
        The input size, in pixels, the weights were trained and verified at.
    """

    filename: str
    sha256: str | None
    source: str
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: int = 224

    @property
    def url(self) -> str | None:
        """The official download URL (None for files with no public URL)."""
        return self.source if self.source.startswith(("https://", "http://")) else None

    def matches(self, digest: str) -> bool:
        """Return True when a file's full sha256 ``digest`` matches this declaration.

        Parameters
        ----------
        digest : str
            The file's full sha256, lowercase hex.

        Returns
        -------
        bool
            True when ``digest`` starts with the declared sha256 (full or prefix); always
            False for a file declared without a checksum.
        """
        return self.sha256 is not None and digest.startswith(self.sha256)


@dataclass(frozen=True)
class Backbone:
    """A network architecture and the weight files it accepts (in order of preference)."""

    name: str
    description: str
    build: Callable[[], Any]
    files: tuple[WeightFile, ...]
    strip_prefix: str = ""
    allowed_missing: tuple[str, ...] = ()
    requires: str | None = None  # an optional import the backbone needs (open_clip)
    load: Callable[[Path], Any] | None = None  # a custom loader for non-state_dict files
    required_keys: tuple[str, ...] = ()  # keys a checkpoint must hold (after strip_prefix)
    aliases: tuple[str, ...] = ()  # other names `weights fetch` accepts (``clip``)


def _tv():
    from fmri_bench._torchvision import torchvision

    return torchvision.models


def _inception():
    # The official checkpoint was trained with transform_input=True (torchvision sets it
    # when it loads IMAGENET1K_V1 itself) and includes the auxiliary classifier.
    return _tv().inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)


def _clip_vit_l14_load(path: Path):
    import open_clip  # only reached when open_clip is importable

    from fmri_bench._torchvision import torchvision  # noqa: F401  (the shim first: open_clip imports torchvision)

    # OpenAI's file is a TorchScript archive; open_clip.load_openai_model reads it from a
    # local path (no download) and rebuilds the model in fp32 on the CPU.
    return open_clip.load_openai_model(str(path), precision="fp32", device="cpu")


BACKBONES: dict[str, Backbone] = {}


def _declare(backbone: Backbone) -> None:
    BACKBONES[backbone.name] = backbone


_declare(
    Backbone(
        "alexnet",
        "torchvision AlexNet, IMAGENET1K_V1",
        lambda: _tv().alexnet(weights=None),
        (
            WeightFile(
                "alexnet-owt-7be5be79.pth", "7be5be79", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
            ),
        ),
    )
)
_declare(
    Backbone(
        "inception_v3",
        "torchvision Inception v3, IMAGENET1K_V1",
        _inception,
        (
            WeightFile(
                "inception_v3_google-0cc3c7bd.pth",
                "0cc3c7bd",
                "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
                input_size=299,
            ),
        ),
    )
)
_declare(
    Backbone(
        "efficientnet_b1",
        "torchvision EfficientNet-B1, IMAGENET1K_V2 (torchvision's DEFAULT, what MindEye loaded)",
        lambda: _tv().efficientnet_b1(weights=None),
        (
            WeightFile(
                "efficientnet_b1-c27df63c.pth",
                "c27df63c",
                "https://download.pytorch.org/models/efficientnet_b1-c27df63c.pth",
                input_size=240,
            ),
        ),
    )
)
_declare(
    Backbone(
        "efficientnet_b1_v1",
        "torchvision EfficientNet-B1, IMAGENET1K_V1 (what Brain-Diffuser's efficientnet_b1(weights=True) loaded)",
        lambda: _tv().efficientnet_b1(weights=None),
        (
            # Published as ...-533bc792.pth up to torchvision 0.15 (a name whose hash prefix
            # was wrong; torch.hub did not check it then), renamed in 0.16 (pytorch/vision#7744).
            # Same bytes; the real sha256 starts with bac287d4.
            WeightFile(
                "efficientnet_b1_rwightman-bac287d4.pth",
                "bac287d4",
                "https://download.pytorch.org/models/efficientnet_b1_rwightman-bac287d4.pth",
                input_size=240,
            ),
            WeightFile(
                "efficientnet_b1_rwightman-533bc792.pth",
                "bac287d4",
                "https://download.pytorch.org/models/efficientnet_b1_rwightman-533bc792.pth",
                input_size=240,
            ),
        ),
    )
)
_declare(
    Backbone(
        "resnet50_swav",
        "ResNet-50 trunk with the SwAV 800-epoch self-supervised checkpoint",
        lambda: _tv().resnet50(weights=None),
        (
            # No published sha256 and none found in public sources: pinned on first download.
            WeightFile(
                "swav_800ep_pretrain.pth.tar",
                None,
                "https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar",
            ),
        ),
        strip_prefix="module.",
        allowed_missing=("fc.weight", "fc.bias"),
        required_keys=("prototypes.weight",),
        aliases=("swav",),
    )
)
_declare(
    Backbone(
        "clip_vit_l14",
        "OpenAI CLIP ViT-L/14 image encoder (via open_clip)",
        lambda: None,
        (
            WeightFile(
                "ViT-L-14.pt",
                "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
                "https://openaipublic.azureedge.net/clip/models/"
                "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
                mean=CLIP_MEAN,
                std=CLIP_STD,
            ),
        ),
        requires="open_clip",
        load=_clip_vit_l14_load,
        aliases=("clip",),
    )
)
_declare(
    Backbone(
        "vgg19",
        "torchvision VGG19, IMAGENET1K_V1 (the network of Shen et al. 2019; the icnn baseline on real data)",
        lambda: _tv().vgg19(weights=None),
        (WeightFile("vgg19-dcbb9e9d.pth", "dcbb9e9d", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),),
    )
)
_declare(
    Backbone(
        "squeezenet1_0",
        "torchvision SqueezeNet 1.0 (official, or the Deep-Compression ImageNet file)",
        lambda: _tv().squeezenet1_0(weights=None),
        (
            WeightFile(
                "squeezenet1_0-b66bff10.pth",
                "b66bff10",
                "https://download.pytorch.org/models/squeezenet1_0-b66bff10.pth",
            ),
            WeightFile(
                "squeezenet1_0-imagenet-deepcompression.pth",
                "468dbf6c9b7885f6ff0e526a4ab6129d19831877156611cac545e57124562fe5",
                "songhan/SqueezeNet-Deep-Compression, converted to torchvision layout (shared/weights)",
            ),
        ),
    )
)
_declare(
    Backbone(
        "mobilenet_v2",
        "torchvision MobileNetV2 (official, or the Coral dequantized ImageNet file)",
        lambda: _tv().mobilenet_v2(weights=None),
        (
            WeightFile(
                "mobilenet_v2-7ebf99e0.pth", "7ebf99e0", "https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth"
            ),
            WeightFile(
                "mobilenet_v2-b0353104.pth", "b0353104", "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth"
            ),
            # Coral's MobileNetV2 expects [-1, 1] input; 225 = 1 (mod 32) makes TF 'SAME'
            # padding equal PyTorch's, so the features are exactly the original network's.
            WeightFile(
                "mobilenet_v2-imagenet-coral-dequant.pth",
                "526960e714860cc8b97de70df415e2558ea6b38493983f4a6ad1e870e95be1cb",
                "google-coral/test_data mobilenet_v2_1.0_224_quant, dequantized (shared/weights)",
                mean=(0.5, 0.5, 0.5),
                std=(0.5, 0.5, 0.5),
                input_size=225,
            ),
        ),
    )
)


def checkpoints_dir() -> Path:
    """Return ``torch.hub.get_dir()/checkpoints`` (honours ``$TORCH_HOME``).

    Returns
    -------
    Path
        The folder (not created if absent).
    """
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def get_backbone(name: str) -> Backbone:
    """Return the declared backbone ``name``; a one-line error lists the known ones.

    Parameters
    ----------
    name : str
        A key of ``BACKBONES`` (``alexnet``, ``clip_vit_l14``...).

    Returns
    -------
    Backbone

    Raises
    ------
    WeightsError
        No backbone is called ``name``.
    """
    if name not in BACKBONES:
        for backbone in BACKBONES.values():
            if name in backbone.aliases:
                return backbone
    try:
        return BACKBONES[name]
    except KeyError:
        raise WeightsError(f"unknown backbone {name!r}; expected one of: {', '.join(sorted(BACKBONES))}") from None


def pin_path(path: Path) -> Path:
    """The pin of a file declared without a checksum: ``<file>.sha256`` beside it.

    Parameters
    ----------
    path : Path
        The weight file in the torch cache.

    Returns
    -------
    Path
    """
    return path.with_name(path.name + ".sha256")


def _pinned(path: Path) -> str | None:
    import json

    try:
        value = json.loads(pin_path(path).read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def _write_pin(path: Path, digest: str, source: str) -> None:
    from fmri_bench.io import write_json_atomic
    from fmri_bench.provenance import utc_now

    write_json_atomic(pin_path(path), {"sha256": digest, "source": source, "pinned": utc_now()})


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return a file's sha256, cached per (path, size, mtime) within the process.

    Parameters
    ----------
    path : path-like
        An existing file.

    Returns
    -------
    str
        The full sha256, lowercase hex.
    """
    stat = os.stat(path)
    return _sha256_cached(str(path), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Resolved:
    """The outcome of looking for a backbone's weights: a verified file, or a reason."""

    backbone: str
    path: Path | None
    file: WeightFile | None
    sha256: str | None
    reason: str | None

    @property
    def available(self) -> bool:
        """True when a verified weight file was found."""
        return self.path is not None


def _import_ok(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def resolve(name: str, *, need_library: bool = True) -> Resolved:
    """Find a verified weight file for backbone ``name`` in the torch cache.

    Files are tried in the declared order of preference. A file present under an accepted
    name but with the wrong checksum is refused (it is reported if nothing else is found).

    Parameters
    ----------
    name : str
        A declared backbone.
    need_library : bool
        Report a missing optional library (open_clip) as the reason; False to look at the
        files only.

    Returns
    -------
    Resolved
        The first present file that passes its checksum (or matches its pin), or
        ``path=None`` with the reason: a missing optional library, failed checksums, or no file.

    Raises
    ------
    WeightsError
        ``name`` is not a declared backbone.
    """
    backbone = get_backbone(name)
    name = backbone.name
    if need_library and backbone.requires and not _import_ok(backbone.requires):
        return Resolved(name, None, None, None, f"{backbone.requires} not installed (pip install 'fmri-bench[clip]')")
    folder = checkpoints_dir()
    problems = []
    for wf in backbone.files:
        path = folder / wf.filename
        if not path.is_file():
            continue
        digest = file_sha256(path)
        if wf.matches(digest) or (wf.sha256 is None and _pinned(path) == digest):
            return Resolved(name, path, wf, digest, None)
        if wf.sha256 is None:
            problems.append(
                f"{wf.filename} has no published checksum and no pin matching it; expected it fetched with "
                f"`fmri-bench weights fetch {name}` or imported with `fmri-bench weights import {name} FILE --sha256 HEX`"
            )
            continue
        problems.append(
            f"{wf.filename} in the torch cache fails its checksum "
            f"(sha256 {digest[:12]}..., expected {wf.sha256[:12]}...)"
        )
    if problems:
        return Resolved(name, None, None, None, "; ".join(problems))
    names = " or ".join(wf.filename for wf in backbone.files)
    return Resolved(
        name,
        None,
        None,
        None,
        f"weights for {name} not found: expected {names} in the torch cache (see `fmri-bench weights`)",
    )


def _load_state_dict(backbone: Backbone, path: Path) -> dict[str, Any]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or non-torch file: one line, not a traceback
        raise WeightsError(f"{path}: not a readable torch weight file ({type(exc).__name__}: {exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}; expected a state_dict for {backbone.name}")
    if backbone.strip_prefix:
        p = backbone.strip_prefix
        state = {k[len(p) :] if k.startswith(p) else k: v for k, v in state.items()}
    return state


def _load_into(backbone: Backbone, path: Path):
    if backbone.load is not None:
        return backbone.load(path).eval().requires_grad_(False)
    model = backbone.build()
    state = _load_state_dict(backbone, path)
    strict = not backbone.allowed_missing
    try:
        result = model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise WeightsError(f"{path}: does not fit the {backbone.name} architecture ({first})") from exc
    absent = [k for k in backbone.required_keys if k not in state]
    if absent:
        raise WeightsError(f"{path}: not a {backbone.name} checkpoint (it lacks {absent[0]!r})")
    if not strict:
        missing = set(result.missing_keys) - set(backbone.allowed_missing)
        unexpected = [k for k in result.unexpected_keys if not k.startswith(("projection_head", "prototypes"))]
        if missing or unexpected:
            raise WeightsError(
                f"{path}: does not fit the {backbone.name} architecture "
                f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
            )
    return model.eval().requires_grad_(False)


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, path: str, sha: str):
    return _load_into(get_backbone(name), Path(path))


def load_backbone(name: str) -> tuple[Any, Resolved]:
    """Return ``(model in eval mode, Resolved)`` for ``name``; each file is loaded once per process.

    Parameters
    ----------
    name : str
        A declared backbone.

    Returns
    -------
    model : torch.nn.Module
        The network in eval mode, gradients off, on the CPU; the same object on every call
        for the same file (do not modify it).
    resolved : Resolved
        The verified file it was loaded from.

    Raises
    ------
    WeightsError
        When no verified weight file is present (the message is the reason).
    """
    resolved = resolve(name)
    if not resolved.available:
        raise WeightsError(resolved.reason or f"weights for {name} unavailable")
    assert resolved.path is not None and resolved.sha256 is not None
    return _load_cached(name, str(resolved.path), resolved.sha256), resolved


def identify_file(
    path: str | os.PathLike[str], backbone: str | None = None, *, sha256: str | None = None
) -> tuple[Backbone, WeightFile, str]:
    """Return ``(backbone, accepted file, sha256)`` that a local file is, by checksum.

    With ``backbone`` given, only that backbone's files are considered. A file declared
    without a checksum (SwAV) is accepted only when ``sha256`` is given, equals the file's,
    and the file loads into the architecture with the checkpoint's own keys.

    Parameters
    ----------
    path : path-like
        The local weight file.
    backbone : str, optional
        The backbone it should be; None to match the checksum against every declared file.
    sha256 : str, optional
        The sha256 you vouch for, for a file that has no published checksum.

    Returns
    -------
    backbone : Backbone
        The backbone the file belongs to.
    file : WeightFile
        The accepted file it is (its ``filename`` is the name to store it under).
    sha256 : str
        The file's full sha256.

    Raises
    ------
    WeightsError
        The file is absent, matches no accepted file, or does not load into the architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file (expected a downloaded weight file)")
    digest = sha256_file(path)
    candidates = [get_backbone(backbone)] if backbone else list(BACKBONES.values())
    for bb in candidates:
        for wf in bb.files:
            if wf.matches(digest):
                return bb, wf, digest
    if backbone:
        bb = candidates[0]
        unchecked = [wf for wf in bb.files if wf.sha256 is None]
        if unchecked and sha256 is None:
            raise WeightsError(
                f"{path}: {bb.name}'s file has no published checksum; expected `--sha256 HEX` (the sha256 you "
                f"vouch for; this file's is {digest}) or `fmri-bench weights fetch {bb.name}` from the official URL"
            )
        if unchecked and sha256.lower() != digest:
            raise WeightsError(f"{path}: sha256 {digest[:16]}... is not the --sha256 given ({sha256[:16]}...)")
        if unchecked:
            _load_into(bb, path)  # raises a one-line WeightsError if it does not fit
            return bb, unchecked[0], digest
        expected = ", ".join(f"{wf.filename} (sha256 {wf.sha256[:12]}...)" for wf in bb.files if wf.sha256)
        raise WeightsError(
            f"{path} (sha256 {digest[:12]}...) is not an accepted weight file for {bb.name}; expected one of: {expected}"
        )
    raise WeightsError(f"{path} (sha256 {digest[:12]}...) matches no declared weight file; pass the backbone name")


def import_weights(name: str, file: str | os.PathLike[str], *, sha256: str | None = None) -> Path:
    """Check ``file`` against backbone ``name``'s accepted files and copy it into the torch cache.

    Returns the destination ``<torch hub dir>/checkpoints/<accepted filename>``. The copy
    is atomic, so an interrupted import never leaves a partial checkpoint behind. A file
    without a published checksum is pinned to ``sha256``.

    Parameters
    ----------
    name : str
        The backbone the file should be.
    file : path-like
        The downloaded weight file.
    sha256 : str, optional
        For a file without a published checksum: the sha256 you vouch for.

    Returns
    -------
    Path
        Where the file was copied.

    Raises
    ------
    WeightsError
        ``file`` is not one of the files ``name`` accepts (see :func:`identify_file`).
    """
    backbone, wf, digest = identify_file(file, name, sha256=sha256)
    destination = checkpoints_dir() / wf.filename
    with atomic_path(destination) as tmp:
        shutil.copyfile(file, tmp)
    if wf.sha256 is None:
        _write_pin(destination, digest, f"imported from {file} with --sha256")
    return destination


def fetch_weights(name: str, *, mirror: str | None = None) -> Path:
    """Download backbone ``name``'s weight file into the torch cache (resumable, checksum checked).

    The accepted files are tried in order of preference: from their official URL, or from
    ``<mirror>/<filename>`` with a mirror (files without a public URL are found only on a
    mirror). A file already present and verified is not downloaded again. A file without a
    published checksum (SwAV) is pinned to the sha256 of what was downloaded.

    Parameters
    ----------
    name : str
        A backbone (``fmri-bench weights list``) or an alias (``clip``, ``swav``).
    mirror : str, optional
        A base URL holding the files under their names.

    Returns
    -------
    Path
        The verified file.

    Raises
    ------
    WeightsError, NetworkError
        No accepted file could be fetched (the last reason), a checksum mismatch (the
        download is deleted), or no network (one line, within seconds).
    """
    from fmri_bench.download import download
    from fmri_bench.errors import NetworkError

    backbone = get_backbone(name)
    current = resolve(backbone.name, need_library=False)
    if current.available:
        return current.path
    candidates = [(wf, f"{mirror.rstrip('/')}/{wf.filename}" if mirror else wf.url) for wf in backbone.files]
    candidates = [(wf, url) for wf, url in candidates if url]
    if not candidates:
        raise WeightsError(
            f"{backbone.name} has no public URL; expected --from MIRROR_URL or `fmri-bench weights import`"
        )
    last: Exception | None = None
    for wf, url in candidates:
        destination = checkpoints_dir() / wf.filename
        try:
            download(url, destination, wf.sha256)
        except NetworkError as exc:
            if "HTTP 404" not in str(exc) or (wf, url) == candidates[-1]:
                raise
            last = exc
            continue
        if wf.sha256 is None:
            _write_pin(destination, file_sha256(destination), url)
        return destination
    raise last or WeightsError(f"no file of {backbone.name} could be fetched")


@dataclass(frozen=True)
class FileState:
    """The state of one accepted weight file in the torch cache (``fmri-bench weights list``)."""

    backbone: str
    filename: str
    state: str  # verified, pinned, wrong checksum, not pinned, partial, absent
    detail: str


def file_states() -> list[FileState]:
    """The state of every accepted weight file of every backbone, in declaration order.

    Returns
    -------
    list of FileState
        ``verified`` (its checksum matches), ``pinned`` (no published checksum; matches its
        pin), ``wrong checksum``, ``not pinned``, ``partial`` (an interrupted download, with
        its size; ``weights fetch`` resumes it) or ``absent``.
    """
    from fmri_bench.download import part_path

    out = []
    folder = checkpoints_dir()
    for bb in BACKBONES.values():
        for wf in bb.files:
            path = folder / wf.filename
            part = part_path(path)
            if path.is_file():
                digest = file_sha256(path)
                if wf.matches(digest):
                    state, detail = "verified", f"sha256 {digest[:12]}..."
                elif wf.sha256 is None:
                    ok = _pinned(path) == digest
                    state, detail = (
                        ("pinned", f"sha256 {digest[:12]}... (pin)")
                        if ok
                        else ("not pinned", "see weights import --sha256")
                    )
                else:
                    state, detail = "wrong checksum", f"sha256 {digest[:12]}..., expected {wf.sha256[:12]}..."
            elif part.is_file():
                state, detail = "partial", f"{part.stat().st_size / 1e6:,.1f} MB downloaded; `weights fetch` resumes"
            else:
                state, detail = "absent", "weights fetch" if wf.url else "no public URL: weights import"
            out.append(FileState(bb.name, wf.filename, state, detail))
    return out


def status() -> list[Resolved]:
    """Return the resolution of every declared backbone, in declaration order.

    Returns
    -------
    list of Resolved
        One per backbone of ``BACKBONES``, available or with its reason.
    """
    return [resolve(name) for name in BACKBONES]
