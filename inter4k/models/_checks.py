"""The argument checks the model constructors share: one message format for every model."""

from __future__ import annotations

from typing import Iterable


def check_ints(who: str, *checks: tuple[str, object, int]) -> None:
    """ValueError unless each ``(name, value, lowest)`` has an int (not a bool) value >= lowest."""
    for name, v, lo in checks:
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{who}: {name} must be an int >= {lo}, got {v!r}")


def check_choice(who: str, what: str, value: object, known: Iterable[str]) -> None:
    """ValueError naming the known choices unless ``value`` is one of them."""
    known = tuple(known)
    if value not in known:
        raise ValueError(f"{who}: unknown {what} {value!r}; known: {', '.join(known)}")
