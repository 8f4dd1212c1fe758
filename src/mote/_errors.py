"""Error helpers: every message names the value received, what was allowed, and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(value: str, allowed: Iterable[str]) -> str:
    """Return ' Did you mean "x"?' for the closest allowed name, or '' when nothing is close."""
    close = difflib.get_close_matches(str(value), list(allowed), n=1, cutoff=0.5)
    return f' Did you mean "{close[0]}"?' if close else ""


def unknown_name(kind: str, value: str, allowed: Iterable[str], fix: str = "") -> ValueError:
    """Build the ValueError raised for an unknown registered name (task, method, suite, ...)."""
    allowed = sorted(allowed)
    msg = f"Unknown {kind} {value!r}. Valid {kind}s: {', '.join(allowed)}.{did_you_mean(value, allowed)}"
    if fix:
        msg += f" {fix}"
    return ValueError(msg)
