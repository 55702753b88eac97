"""Per-tag thresholds: a default from the score distribution, and learned from people's decisions."""
from __future__ import annotations

import numpy as np

DEFAULT_STD_K = 1.0


def distribution_threshold(scores: np.ndarray, k: float = DEFAULT_STD_K) -> float:
    """mean + k·std of a tag's cosine scores over a collection (most photos do not show a given tag)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return 1.0
    return float(scores.mean() + k * scores.std())


def f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """The cutoff maximising F1 on decided examples (labels True = accepted); None without both kinds.
    Ties prefer the higher cutoff; the cutoff sits halfway between neighbouring scores."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return None
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    f1 = 2 * tp / (tp + fp + y.sum())  # predicting the top i+1 as positive
    # only cut between distinct scores
    valid = np.append(s[:-1] > s[1:], True)
    f1 = np.where(valid, f1, -1)
    best = int(np.argmax(f1))
    below = s[best + 1] if best + 1 < len(s) else s[best] - 1e-3
    return float((s[best] + below) / 2)


class LogisticProbe:
    """A small L2-regularised logistic regression on stored embeddings (Newton's method, numpy)."""

    def __init__(self, l2: float = 1.0, iters: int = 25) -> None:
        self.l2, self.iters = l2, iters
        self.w = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> "LogisticProbe":
        x = np.hstack([np.asarray(x, np.float64), np.ones((len(x), 1))])
        y = np.asarray(y, np.float64)
        w = np.zeros(x.shape[1])
        reg = np.full(x.shape[1], self.l2)
        reg[-1] = 0.0
        for _ in range(self.iters):
            p = 1 / (1 + np.exp(-(x @ w)))
            grad = x.T @ (p - y) + reg * w
            hess = (x.T * (p * (1 - p))) @ x + np.diag(reg) + 1e-6 * np.eye(len(w))
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-6:
                break
        self.w = w
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = np.asarray(x, np.float64) @ self.w[:-1] + self.w[-1]
        return 1 / (1 + np.exp(-z))
