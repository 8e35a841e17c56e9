"""Figures for the reports, as PNG bytes (matplotlib, no display needed): confusion heatmaps and per-tag F1 bars."""

from __future__ import annotations

import io
from typing import Mapping, Optional, Sequence

import numpy as np


def _png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display and never opens a window
    import matplotlib.pyplot as plt

    return plt


def confusion_heatmap(labels: Sequence[str], counts: Sequence[Sequence[int]], *, title: str) -> bytes:
    """Row-normalised confusion matrix (rows: gold tag, columns: predicted; each row sums to 100%) as a PNG."""
    plt = _pyplot()
    matrix = np.asarray(counts, dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    percent = np.divide(100.0 * matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = max(4.0, 0.38 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size * 0.9))
    image = axes.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title(title)
    if len(labels) <= 20:  # the numbers stay legible
        for i in range(len(labels)):
            for j in range(len(labels)):
                if matrix[i, j]:
                    axes.text(j, i, f"{percent[i, j]:.0f}", ha="center", va="center", fontsize=6,
                              color="white" if percent[i, j] > 60 else "black")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="% of the gold tag's words")
    return _png(figure)


def f1_bars(f1: Mapping[str, Mapping[str, Optional[float]]], *, title: str) -> bytes:
    """Per-tag F1 bars, one colour per system: ``f1[tag][system]`` (None: not applicable, drawn as 0)."""
    plt = _pyplot()
    tags = list(f1)
    systems = list(next(iter(f1.values()))) if f1 else []
    width = 0.8 / max(len(systems), 1)
    figure, axes = plt.subplots(figsize=(max(6.0, 0.45 * len(tags) * max(1, len(systems)) ** 0.5 + 2), 3.5))
    for k, system in enumerate(systems):
        values = [f1[tag][system] or 0.0 for tag in tags]
        axes.bar(np.arange(len(tags)) + k * width - 0.4 + width / 2, values, width, label=system)
    axes.set_xticks(range(len(tags)), tags, rotation=90, fontsize=8)
    axes.set_ylabel("F1 (%)")
    axes.set_ylim(0, 100)
    axes.set_title(title)
    if len(systems) > 1:
        axes.legend(fontsize=7, ncol=min(len(systems), 4))
    return _png(figure)
