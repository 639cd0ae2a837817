"""Population stability and discrimination on matured loans (pure: numpy only)."""

import math

import numpy as np

EPSILON = 1e-4  # an empty bin counts as this share, so the logarithm stays finite
WATCH, SHIFT = 0.10, 0.25


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index: sum((actual - expected) * ln(actual / expected)) over bins."""
    if len(expected) != len(actual) or not expected:
        raise ValueError("expected and actual need the same, non-zero number of bins")
    total = 0.0
    for e, a in zip(expected, actual):
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def shares_by_edges(values, edges: list[float]) -> list[float]:
    """Shares of `values` in the bins cut at `edges` (plus a last bin for missing values)."""
    array = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    present = array[~np.isnan(array)]
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1).tolist()
    counts.append(int(np.isnan(array).sum()))
    n = max(len(array), 1)
    return [c / n for c in counts]


def shares_by_category(values, categories: list[float]) -> list[float]:
    array = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    n = max(len(array), 1)
    shares = [float(np.sum(array == c)) / n for c in categories]
    shares.append(float(np.isnan(array).sum()) / n)
    return shares


def flag(value: float) -> str:
    return "shift" if value >= SHIFT else "watch" if value >= WATCH else "stable"
