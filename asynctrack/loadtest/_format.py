"""Numbers for people: counts with separators, rates with k and M, durations in the unit that fits."""

from __future__ import annotations

__all__ = ["count", "ms", "ratio", "rate"]


def count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def rate(x: float | None) -> str:
    """3 significant digits; k and M for large values."""
    if x is None:
        return "-"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.1f}k"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def ms(x: float | None) -> str:
    """A duration given in milliseconds, shown in µs, ms or s."""
    if x is None:
        return "-"
    if x < 1.0:
        return f"{x * 1000:.3g} µs"
    if x < 1000.0:
        return f"{x:.3g} ms"
    return f"{x / 1000:.3g} s"


def ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}x"
