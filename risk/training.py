"""Training and evaluating XGBoost credit models (no Django import).

Data comes either from the synthetic generator, through the same `risk.features` definition
used when scoring, or from any CSV with a binary target (numeric and categorical columns,
missing values allowed: XGBoost handles both natively).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import xgboost as xgb
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split

from risk import features

MAX_CATEGORIES = 50  # a text column with more distinct values is not a category


class DataError(ValueError):
    """The data cannot be trained on; the message says why in one line."""


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray
    names: list[str]
    types: list[str]  # "q" numeric, "c" categorical (XGBoost's feature_types)
    categories: dict[str, list[str]]
    monotone: list[int]
    source: str
    fingerprint: str = ""

    def __post_init__(self):
        if not self.fingerprint:
            digest = hashlib.sha256()
            digest.update(json.dumps([self.names, self.types, self.categories]).encode())
            digest.update(np.ascontiguousarray(self.X, dtype=np.float64).tobytes())
            digest.update(np.ascontiguousarray(self.y, dtype=np.int8).tobytes())
            self.fingerprint = digest.hexdigest()

    @property
    def spec(self) -> dict:
        return {"names": self.names, "types": self.types, "categories": self.categories, "monotone": self.monotone,
                "source": self.source}  # fmt: skip


def dataset_from_raw(rows: list[dict], *, target: str = "defaulted", monotone: dict | None = None) -> Dataset:
    """Rows of raw application values (the generator's, or the database's) through risk.features."""
    X = np.array([features.feature_vector(r) for r in rows], dtype=np.float64)
    y = np.array([int(r[target]) for r in rows], dtype=np.int8)
    return Dataset(
        X=X,
        y=y,
        names=list(features.FEATURE_NAMES),
        types=["c" if f.kind == "categorical" else "q" for f in features.FEATURES],
        categories={f.name: list(f.categories) for f in features.FEATURES if f.kind == "categorical"},
        monotone=list(features.monotone_constraints(monotone)),
        source="generator",
    )


def _parse_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def dataset_from_csv(path: str, *, target: str, positive: str, monotone: dict | None = None) -> Dataset:
    """Any CSV with a binary target column; raises DataError with a one-line reason."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = list(reader)
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path} is not a readable UTF-8 CSV file ({e})") from None
    if target not in header:
        raise DataError(f"the target column {target!r} is not in the CSV (columns: {', '.join(header) or 'none'})")
    labelled = [r for r in rows if (r.get(target) or "").strip() != ""]
    values = sorted({r[target].strip() for r in labelled})
    if len(values) != 2:
        raise DataError(
            f"the target column {target!r} must have exactly two values; it has {len(values)}: {values[:5]}"
        )
    if positive not in values:
        raise DataError(f"the positive value {positive!r} does not occur in {target!r} (values: {values})")
    if len(labelled) < 20:
        raise DataError(f"only {len(labelled)} usable rows (with a target value); at least 20 are needed")
    columns = [c for c in header if c != target and c]
    if not columns:
        raise DataError("the CSV has no feature columns besides the target")
    names, types, categories, matrix = [], [], {}, []
    for column in columns:
        cells = [(r.get(column) or "").strip() for r in labelled]
        present = [c for c in cells if c != ""]
        numbers = [_parse_number(c) for c in present]
        if present and all(n is not None for n in numbers):
            names.append(column)
            types.append("q")
            matrix.append([_parse_number(c) if c != "" else np.nan for c in cells])
            continue
        distinct = sorted(set(present))
        if len(distinct) > MAX_CATEGORIES:
            raise DataError(
                f"column {column!r} is not numeric and has {len(distinct)} distinct values, too many to treat as "
                f"categorical (at most {MAX_CATEGORIES}); drop it or encode it"
            )
        if not distinct:
            continue  # an empty column carries nothing
        names.append(column)
        types.append("c")
        categories[column] = distinct
        index = {v: i for i, v in enumerate(distinct)}
        matrix.append([float(index[c]) if c != "" else np.nan for c in cells])
    if not names:
        raise DataError("no usable feature column (all are empty)")
    X = np.array(matrix, dtype=np.float64).T
    y = np.array([1 if r[target].strip() == positive else 0 for r in labelled], dtype=np.int8)
    overrides = monotone or {}
    unknown = set(overrides) - set(names)
    if unknown:
        raise DataError(f"monotone constraint on unknown columns: {', '.join(sorted(unknown))}")
    mono = [overrides.get(n, 0) if t == "q" else 0 for n, t in zip(names, types)]
    return Dataset(X=X, y=y, names=names, types=types, categories=categories, monotone=mono, source=f"csv:{path}")


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov–Smirnov: the largest gap between the score distributions of bads and goods."""
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    if len(set(y.tolist())) < 2:
        raise DataError("the evaluation data has only one class")
    auc = float(roc_auc_score(y, p))
    return {"auc": auc, "ks": ks_statistic(y, p), "gini": 2 * auc - 1, "brier": float(brier_score_loss(y, p))}


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

DEFAULT_PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "tree_method": "hist",
    "max_depth": 4,
    "eta": 0.08,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "min_child_weight": 5,
    "lambda": 1.0,
    "max_cat_to_onehot": 8,
    "nthread": 2,
}


@dataclass
class TrainResult:
    booster: xgb.Booster
    model_bytes: bytes
    sha256: str
    metrics: dict[str, float]  # on the held-out test split
    best_iteration: int
    cv: dict[str, float] = field(default_factory=dict)
    test_scores: list[float] = field(default_factory=list)  # held-out probabilities, for PSI baselines


def _dmatrix(ds: Dataset, index: np.ndarray) -> xgb.DMatrix:
    return xgb.DMatrix(
        ds.X[index], label=ds.y[index], feature_names=ds.names, feature_types=ds.types, enable_categorical=True,
        missing=np.nan,
    )  # fmt: skip


def _fit(ds: Dataset, train_idx, valid_idx, *, seed: int, rounds: int, progress: Callable[[str], None] | None):
    params = dict(DEFAULT_PARAMS, seed=seed, monotone_constraints="(" + ",".join(str(m) for m in ds.monotone) + ")")
    dtrain, dvalid = _dmatrix(ds, train_idx), _dmatrix(ds, valid_idx)
    callbacks = []
    if progress is not None:

        class Progress(xgb.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log):
                if epoch % 50 == 0:
                    auc = evals_log["valid"]["auc"][-1]
                    progress(f"round {epoch}: validation AUC {auc:.4f}")
                return False

        callbacks.append(Progress())
    return xgb.train(
        params, dtrain, num_boost_round=rounds, evals=[(dvalid, "valid")], early_stopping_rounds=30,
        verbose_eval=False, callbacks=callbacks,
    )  # fmt: skip


def train(
    ds: Dataset, *, seed: int = 2026, rounds: int = 600, cv: int = 0, progress: Callable[[str], None] | None = None
) -> TrainResult:
    """Fit with early stopping on a validation split; metrics on a held-out 20% test split."""
    n = len(ds.y)
    if n < 20 or len(set(ds.y.tolist())) < 2:
        raise DataError("the data needs at least 20 rows and both classes of the target")
    index = np.arange(n)
    train_idx, test_idx = train_test_split(index, test_size=0.2, random_state=seed, stratify=ds.y)
    fit_idx, valid_idx = train_test_split(train_idx, test_size=0.2, random_state=seed, stratify=ds.y[train_idx])
    booster = _fit(ds, fit_idx, valid_idx, seed=seed, rounds=rounds, progress=progress)
    best = booster.best_iteration
    booster = booster[: best + 1]  # keep only the rounds early stopping chose
    p_test = booster.predict(_dmatrix(ds, test_idx))
    result_metrics = evaluate(ds.y[test_idx], p_test)
    raw = bytes(booster.save_raw("ubj"))
    cv_metrics = {}
    if cv:
        if cv < 2:
            raise DataError("--cv needs at least 2 folds")
        folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
        scores = []
        for k, (a, b) in enumerate(folds.split(index, ds.y)):
            inner_fit, inner_valid = train_test_split(a, test_size=0.2, random_state=seed, stratify=ds.y[a])
            model = _fit(ds, inner_fit, inner_valid, seed=seed, rounds=rounds, progress=None)
            scores.append(
                evaluate(ds.y[b], model.predict(_dmatrix(ds, b), iteration_range=(0, model.best_iteration + 1)))
            )
            if progress:
                progress(f"fold {k + 1}/{cv}: AUC {scores[-1]['auc']:.4f}")
        for key in ("auc", "ks", "gini", "brier"):
            values = [s[key] for s in scores]
            cv_metrics[f"cv_{key}_mean"] = float(np.mean(values))
            cv_metrics[f"cv_{key}_std"] = float(np.std(values))
    return TrainResult(
        booster=booster,
        model_bytes=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        metrics=result_metrics,
        best_iteration=best,
        cv=cv_metrics,
        test_scores=[float(x) for x in p_test],
    )
