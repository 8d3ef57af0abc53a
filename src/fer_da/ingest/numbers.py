"""The one way a label or index file's numbers are read (docs/bad_inputs.md).

Python's own readers are too lenient for data: ``int('٣')`` is 3, ``'³'.isdigit()`` is true
but ``int('³')`` fails, ``float('nan')`` and ``float('1e400')`` (inf) pass, ``int(2.7)``
is 2. Here a number is ASCII only, finite, and a code is a whole number; anything else is a
``ValueError`` naming the field and the text, which the parsers turn into a ``bad_row``.
"""

from __future__ import annotations

import math
import re

DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def finite_number(text: str, what: str) -> float:
    """``text`` (surrounding blanks allowed) as a finite float: ASCII decimal notation only
    (``12``, ``-3.5``, ``1e-05``); ``nan``, ``inf``, ``1e400`` (overflow), ``1_0`` and
    non-ASCII digits are errors naming ``what``."""
    stripped = text.strip()
    if not DECIMAL.fullmatch(stripped):
        raise ValueError(f"{what} {text!r} is not a number (ASCII digits, '.', 'e')")
    value = float(stripped)
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not finite (it overflows a float)")
    return value


def whole_number(text: str, what: str) -> int:
    """``text`` as an integer code: ASCII digits (``3``) or a finite number with no fraction
    (``3.0``, CK+'s ``3.0000000e+00``); ``2.7``, ``³``, ``nan``, ``inf`` are errors naming
    ``what`` (never truncated to another code)."""
    stripped = text.strip()
    if re.fullmatch(r"[+-]?\d+", stripped, re.ASCII):
        return int(stripped)
    value = finite_number(text, what)
    if not value.is_integer():
        raise ValueError(f"{what} {text!r} is not a whole number (a code is never rounded)")
    return int(value)


def plain_number(value: float) -> str:
    """``value`` written so that :func:`finite_number` reads back the very same float: the
    short ``%g`` form where that is exact (``10``, ``12.5``), Python's shortest round-trip
    form otherwise (``1234567.0``, ``1e-05``)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))
