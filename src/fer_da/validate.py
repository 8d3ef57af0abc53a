"""Checks for configuration values, each error naming the key it is about.

YAML and ``--params`` hand over strings where a lab meant numbers or booleans (``"false"`` is
true in Python); these helpers refuse them instead of guessing.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; names the key."""


def plain_config_errors(previous: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """An ``excepthook`` that prints a ``ConfigError`` that ended the process as its message
    alone (it names the key: a traceback adds nothing a user can act on), and hands every
    other error to ``previous`` (Kedro's rich traceback). ``FER_DA_TRACEBACK=1`` keeps the
    traceback. It writes to stderr as any ``excepthook`` does: logging may be gone by then."""
    previous = previous or sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        if isinstance(error, ConfigError) and not os.environ.get("FER_DA_TRACEBACK"):
            sys.stderr.write(f"Configuration error: {error}\n(FER_DA_TRACEBACK=1 shows "
                             "where it was raised)\n")
            return
        previous(kind, error, tb)

    hook.plain_config_errors = True  # type: ignore[attr-defined]
    return hook


def install_plain_config_errors() -> None:
    if not getattr(sys.excepthook, "plain_config_errors", False):
        sys.excepthook = plain_config_errors(sys.excepthook)


def unknown_keys(mapping: Any, known: Iterable[str], where: str) -> list[str]:
    """One line per key of ``mapping`` not in ``known``: its dotted key (under ``where``),
    the closest known key when one is close, and what the section accepts."""
    if not isinstance(mapping, Mapping):
        return []
    known = sorted(set(known))
    out = []
    for key in sorted(str(k) for k in mapping if k not in known):
        close = difflib.get_close_matches(key, known, n=1)
        out.append(f"{f'{where}.' if where else ''}{key}: unknown key"
                   + (f" (did you mean {close[0]!r}?)" if close else "")
                   + f"; {where or 'the top level'} accepts {known}")
    return out


def check_keys(mapping: Any, known: Iterable[str], where: str) -> dict[str, Any]:
    """``mapping`` as a dict whose keys are all in ``known`` (a typo is an error, not ignored)."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(mapping).__name__} "
                          f"{mapping!r}")
    known = set(known)
    unknown = sorted(str(k) for k in mapping if k not in known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known keys: {sorted(known)}")
    return dict(mapping)


def as_bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false (unquoted), got {value!r}")
    return value


def as_int(value: Any, key: str, minimum: int | None = None,
           maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer, got {value!r}"
                          + (" (a string: remove the quotes)" if isinstance(value, str) else ""))
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{key} must be <= {maximum}, got {value}")
    return value


def as_float(value: Any, key: str, minimum: float | None = None, positive: bool = False,
             maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number, got {value!r}"
                          + (" (a string: remove the quotes)" if isinstance(value, str) else ""))
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be finite, got {value}")
    if positive and value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{key} must be <= {maximum}, got {value}")
    return value


def as_choice(value: Any, key: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{key} must be one of {list(choices)}, got {value!r}")
    return value


def as_str_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{key} must be a list, got {value!r}")
    out = list(value)
    if not all(isinstance(v, str) for v in out):
        raise ConfigError(f"{key} must be a list of names, got {out!r}")
    return out
