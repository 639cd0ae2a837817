"""Score scaling (pure): probability of default → points, grade and the 0–100 scale."""

import math

# Points at BASE_ODDS good:bad odds, and points to double the odds (DESIGN/issue: 600 at 50:1, 20).
BASE_POINTS, BASE_ODDS, POINTS_TO_DOUBLE = 600, 50.0, 20.0
# Grade bands by points (lower bound inclusive), best first.
GRADES = (("A", 620), ("B", 590), ("C", 560), ("D", 530), ("E", -(10**6)))
EPSILON = 1e-9


def points(probability: float, *, base_points=BASE_POINTS, base_odds=BASE_ODDS, pdo=POINTS_TO_DOUBLE) -> int:
    """Points for a probability of default: base + pdo × log2(odds / base odds)."""
    p = min(max(probability, EPSILON), 1 - EPSILON)
    factor = pdo / math.log(2)
    offset = base_points - factor * math.log(base_odds)
    return round(offset + factor * math.log((1 - p) / p))


def grade(score_points: int) -> str:
    return next(letter for letter, floor in GRADES if score_points >= floor)


def score_100(score_points: int) -> int:
    """The business team's 0–100 scale: (points − 300) / 4, clipped; 70 ↔ 580 points (about 3.8% PD)."""
    return max(0, min(100, round((score_points - 300) / 4)))
