"""Aggregates over seeds: mean or interquartile mean, with percentile-bootstrap confidence intervals."""
from __future__ import annotations

import warnings

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000


def iqm(values, axis=-1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% (rliable), linear weights for partial samples."""
    x = np.sort(np.asarray(values, dtype=float), axis=axis)
    n = x.shape[axis]
    lo, hi = 0.25 * n, 0.75 * n
    positions = np.arange(n)
    weights = np.clip(np.minimum(positions + 1, hi) - np.maximum(positions, lo), 0, 1)
    shape = [1] * x.ndim
    shape[axis] = n
    return (x * weights.reshape(shape)).sum(axis) / weights.sum()


def aggregate(values, statistic: str = "mean") -> float:
    return float(np.mean(values)) if statistic == "mean" else float(iqm(values))


def bootstrap_ci(values, statistic: str = "mean", confidence: float = 0.95, seed: int = 0,
                 resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """Percentile bootstrap interval of the statistic over seeds (fixed RNG seed: reproducible)."""
    x = np.asarray(values, dtype=float)
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    samples = x[rng.integers(0, x.size, size=(resamples, x.size))]
    stats = samples.mean(1) if statistic == "mean" else iqm(samples, axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_band(curves: np.ndarray, confidence: float = 0.95, seed: int = 0, resamples: int = 2000):
    """Mean and pointwise percentile-bootstrap band of [n_seeds, n_points] learning curves."""
    n = curves.shape[0]
    with warnings.catch_warnings():  # points a resample covers only with unfinished runs are NaN, by design
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(curves, axis=0)
        if n == 1:
            return mean, mean, mean
        rng = np.random.default_rng(seed)
        means = np.nanmean(curves[rng.integers(0, n, size=(resamples, n))], axis=1)
        alpha = (1 - confidence) / 2
        low, high = np.nanquantile(means, [alpha, 1 - alpha], axis=0)
    return mean, low, high


def average_ranks(values) -> np.ndarray:
    """Ranks 1..n of ascending values, ties sharing their average rank."""
    x = np.asarray(values, dtype=float)
    ranks = np.empty(len(x))
    ranks[np.argsort(x, kind="stable")] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        ranks[x == v] = ranks[x == v].mean()
    return ranks
