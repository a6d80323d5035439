"""Baseline parameters given as text (``--param key=value``): checked and converted."""

from __future__ import annotations

import ast
import inspect
from typing import Any

from fmri_bench.errors import FmriBenchError


def _coerce(value: Any, default: Any, key: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if isinstance(default, bool):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            return value
        if isinstance(default, (tuple, list)):
            return type(default)(ast.literal_eval(value))
    except (ValueError, SyntaxError):
        raise FmriBenchError(
            f"parameter {key}={value!r} is not a valid {type(default).__name__} (default {default!r})"
        ) from None
    try:  # default None or another type: a Python literal if it is one, else the string
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def coerce_params(cls: type, params: dict[str, Any] | None) -> dict[str, Any]:
    """Check ``params`` against ``cls.__init__`` and convert strings to the defaults' types.

    Parameters
    ----------
    cls : type
        A baseline class.
    params : dict, optional
        Parameter name -> value (strings from the command line are converted).

    Returns
    -------
    dict
        The keyword arguments for ``cls(**kwargs)``.

    Raises
    ------
    FmriBenchError
        An unknown parameter (the message lists the known ones) or a value of the wrong type.
    """
    signature = inspect.signature(cls.__init__)
    accepted = {p.name: p for p in signature.parameters.values() if p.name != "self"}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        key = key.replace("-", "_")
        if key not in accepted and not takes_any:
            known = ", ".join(k for k, p in accepted.items() if p.kind is not p.VAR_KEYWORD) or "none"
            raise FmriBenchError(f"unknown parameter {key!r} for this baseline; expected one of: {known}")
        default = accepted[key].default if key in accepted else None
        out[key] = _coerce(value, None if default is inspect.Parameter.empty else default, key)
    return out
