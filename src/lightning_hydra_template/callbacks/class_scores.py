"""Precision, recall, F1 and support per class, from a confusion matrix (rows: true classes)."""

import csv
import io
from collections.abc import Sequence

import numpy as np


def per_class_scores(counts: np.ndarray, class_names: Sequence[str]) -> list[dict]:
    """One row per class; a score whose denominator is zero (never predicted, no support) is 0."""
    counts = np.asarray(counts, dtype=np.float64)
    hits = np.diag(counts)
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return [
        {
            "class": name,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    ]


def per_class_csv(rows: list[dict]) -> str:
    """`class,precision,recall,f1,support`, scores with 6 decimals."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["class", "precision", "recall", "f1", "support"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()
