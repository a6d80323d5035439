"""Scoring protocols: named, versioned sets of metric definitions.

A protocol fixes everything a published number depends on: the resolution chain, the
interpolation and antialiasing of every resize, the SSIM variant, the identification
variant (ties, NaN), the networks, their layers and their weight files. Each lives in one
module of this package that builds its :class:`Protocol` and registers it with one line
(``PROTOCOLS.add(...)``); plugins register through the ``fmri_bench.protocols`` entry-point
group. Built in:

- ``mindeye``: MindEye's ``src/Reconstruction_Metrics.py`` exactly as published (torchvision
  0.15.2 resizes without antialiasing, scikit-image 0.20 SSIM), plus fmri-bench's extra columns;
- ``brain-diffuser``: Brain-Diffuser's ``eval_extract_features.py`` / ``evaluate_reconstruction.py``
  (Pillow resizes, scikit-image 0.17 column SSIM, EfficientNet-B1 IMAGENET1K_V1);
- ``kamitani``: the Kamitani lab's pixel evaluation (bdpy's pattern / profile correlation and
  pairwise identification at the reconstruction's size).

A leaderboard table never mixes protocols; every row records ``protocol`` and
``protocol_version``. Bump a protocol's ``version`` whenever one of its definitions changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fmri_bench.metrics.core import Metric
from fmri_bench.registry import Registry

DEFAULT_PROTOCOL = "mindeye"


@dataclass
class Protocol:
    """A named, versioned set of metric definitions.

    Attributes
    ----------
    name : str
        Registry name (``mindeye``).
    version : int
        Bumped whenever a definition changes; recorded in every row.
    title : str
        One line: what it reproduces.
    sources : tuple of str
        The reference code it reproduces (repository @ commit, files, lines) and its pins.
    notes : tuple of str
        Where fmri-bench departs from the reference code, and why.
    metrics : Registry
        Its metrics (plugins may add columns to the default protocol).
    order : list of str
        The built-in column order.
    """

    name: str
    version: int
    title: str
    sources: tuple[str, ...]
    notes: tuple[str, ...]
    metrics: Registry[Metric]
    order: list[str] = field(default_factory=list)

    def add(self, metric: Metric) -> Metric:
        """Register ``metric`` in this protocol, after the ones already there.

        Parameters
        ----------
        metric : Metric

        Returns
        -------
        Metric
        """
        self.metrics.add(metric.key, metric, origin=f"protocol {self.name}")
        self.order.append(metric.key)
        return metric

    def names(self) -> list[str]:
        """Every metric key: the built-in order, then plugins alphabetically.

        Returns
        -------
        list of str
        """
        names = self.metrics.names()
        return [k for k in self.order if k in names] + [k for k in names if k not in self.order]

    def metric(self, key: str) -> Metric:
        """The metric ``key``; a one-line error names the protocol and lists its metrics.

        Parameters
        ----------
        key : str

        Returns
        -------
        Metric
        """
        return self.metrics.get(key)


PROTOCOLS: Registry[Protocol] = Registry(
    "protocol", builtin_package="fmri_bench.metrics.protocols", entry_point_group="fmri_bench.protocols"
)


def get_protocol(name: str | Protocol | None = None) -> Protocol:
    """The protocol ``name`` (default: ``mindeye``); a one-line error lists the known ones.

    Parameters
    ----------
    name : str or Protocol, optional

    Returns
    -------
    Protocol
    """
    if isinstance(name, Protocol):
        return name
    return PROTOCOLS.get(name or DEFAULT_PROTOCOL)


def protocol_names() -> list[str]:
    """The registered protocols, the default first.

    Returns
    -------
    list of str
    """
    names = PROTOCOLS.names()
    return [DEFAULT_PROTOCOL] + [n for n in names if n != DEFAULT_PROTOCOL]
