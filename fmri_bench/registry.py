"""Name -> object registries for baselines, metrics and datasets.

A new entry is one file plus one line: a module in the built-in package that decorates
its object with ``@REGISTRY.register("name")``, or a third-party package that declares
an entry point in the registry's group (Brain-Score-style plugins).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from fmri_bench.errors import FmriBenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """A lazily populated registry.

    Parameters
    ----------
    kind : str
        What the entries are ("baseline", "metric"), used in messages.
    builtin_package : str or None
        Package whose modules are imported on first lookup, so that their
        ``register`` decorators run.
    entry_point_group : str or None
        importlib.metadata entry-point group scanned on first lookup; each entry point
        loads the object to register under the entry point's name.
    """

    def __init__(
        self,
        kind: str,
        *,
        builtin_package: str | None = None,
        entry_point_group: str | None = None,
    ) -> None:
        self.kind = kind
        self.builtin_package = builtin_package
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers its target under ``name``.

        Parameters
        ----------
        name : str
            The registry name (``pca_ridge``, ``ssim``...).

        Returns
        -------
        callable
            A decorator that passes its target to :meth:`add` (origin: the target's module) and
            returns the target unchanged.
        """

        def decorator(obj: T) -> T:
            self.add(name, obj, origin=getattr(obj, "__module__", "?"))
            return obj

        return decorator

    def add(self, name: str, obj: T, *, origin: str = "?") -> None:
        """Register ``obj`` under ``name``; a second, different object is refused.

        Parameters
        ----------
        name : str
            The registry name.
        obj : object
            The entry. Registering the same object again under the same name does nothing.
        origin : str
            Where it comes from (a module name or ``entry point <value>``), used in messages.

        Raises
        ------
        FmriBenchError
            ``name`` already holds a different object.
        """
        existing = self._entries.get(name)
        if existing is not None and existing is not obj:
            raise FmriBenchError(
                f"{self.kind} {name!r} is registered twice ({self._origins[name]} and {origin}); names must be unique"
            )
        self._entries[name] = obj
        self._origins[name] = origin

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.builtin_package:
            package = importlib.import_module(self.builtin_package)
            for info in pkgutil.iter_modules(package.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self.builtin_package}.{info.name}")
        if self.entry_point_group:
            for ep in entry_points(group=self.entry_point_group):
                if ep.name not in self._entries:
                    self.add(ep.name, ep.load(), origin=f"entry point {ep.value}")

    def get(self, name: str) -> T:
        """Return the entry called ``name``; a one-line error lists the known names.

        Parameters
        ----------
        name : str
            The registry name.

        Returns
        -------
        object
            The registered entry.

        Raises
        ------
        FmriBenchError
            No entry is called ``name``.
        """
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise FmriBenchError(f"unknown {self.kind} {name!r}; expected one of: {known}") from None

    def origin(self, name: str) -> str:
        """Return where ``name`` was registered from (module or entry point).

        Parameters
        ----------
        name : str
            A registered name (an unknown one raises the same one-line FmriBenchError as get).

        Returns
        -------
        str
            The module name, or ``entry point <module:attr>``.
        """
        self.get(name)  # an unknown name: the one-line error that lists the known ones
        return self._origins[name]

    def names(self) -> list[str]:
        """Return the registered names, sorted.

        Returns
        -------
        list of str
        """
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
