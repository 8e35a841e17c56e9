"""What every neural tagger shares: per-target logits from a batch, the training loss, and argmax decoding.

A family implements only ``forward(batch) -> {target: (B, T, n_labels)}``; the loss and prediction live here
so that every family is trained and decoded the same way.
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn
from torch.nn import functional as F

from ..batching import Batch
from ..vocab import IGNORE_INDEX


class NeuralTagger(nn.Module):
    """Base class of the torch tagger families.

    Args:
        n_labels: number of labels of each trained target (``upos``, ``xpos``, ``feats``).
    """

    def __init__(self, *, n_labels: Dict[str, int]) -> None:
        super().__init__()
        self.n_labels = dict(n_labels)

    def forward(self, batch: Batch) -> Dict[str, torch.Tensor]:  # pragma: no cover - abstract
        """Per-target logits, each (B, T, n_labels[target])."""
        raise NotImplementedError

    def loss(self, batch: Batch) -> torch.Tensor:
        """Sum over targets of the mean cross-entropy over annotated words (a scalar)."""
        logits = self(batch)
        total = logits[next(iter(logits))].new_zeros(())
        for target, scores in logits.items():
            gold = batch.targets[target]
            if bool((gold != IGNORE_INDEX).any()):
                total = total + F.cross_entropy(scores.flatten(0, 1), gold.flatten(), ignore_index=IGNORE_INDEX)
        return total

    @torch.inference_mode()
    def predict(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """Best label id per word and target, each (B, T); positions past a sentence's end are meaningless."""
        return {target: scores.argmax(-1) for target, scores in self(batch).items()}
