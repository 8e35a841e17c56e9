"""The factored FEATS head: one classifier per feature (its values, plus "absent"), composed into a feature bundle.

The joint head picks one of the training file's FEATS strings, so it can never output a bundle absent from training
(2.5% / 1.5% of de_gsd / ru_gsd dev words in our small-data setting) and each bundle's label is sparse. This head
predicts each feature separately from the same states and composes the bundle, so ``Case=Dat|Number=Plur`` can come
out of a training file that only had ``Case=Dat|Number=Sing`` and ``Case=Nom|Number=Plur``.

Its features and values are read off the training bundles (the ``labels.json`` FEATS list), so nothing beyond the
label list is saved; training targets stay bundle ids and are split into features by a table lookup. Composed bundles
get ids after the training ones, in the order they are first predicted (:meth:`FactoredFeatsHead.labels`).
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..vocab import IGNORE_INDEX

ABSENT = 0


def feature_inventory(bundles: Sequence[str]) -> Dict[str, List[str]]:
    """Feature name -> its values, sorted, from FEATS strings (``_`` is the empty bundle)."""
    inventory: Dict[str, set] = {}
    for bundle in bundles:
        if bundle != "_":
            for feature in bundle.split("|"):
                name, _, value = feature.partition("=")
                inventory.setdefault(name, set()).add(value)
    return {name: sorted(inventory[name]) for name in sorted(inventory, key=lambda n: (n.lower(), n))}


class FactoredFeatsHead(nn.Module):
    """Per-feature classifiers over (B, T, D) states.

    Args:
        input_dim: D.
        bundles: the training FEATS labels, in id order.
    """

    def __init__(self, input_dim: int, bundles: Sequence[str]) -> None:
        super().__init__()
        self.inventory = feature_inventory(bundles)
        self.names = list(self.inventory)
        # value 0 of every feature is "absent"
        self.sizes = [len(values) + 1 for values in self.inventory.values()]
        self.linear = nn.Linear(input_dim, sum(self.sizes))
        table = torch.zeros((max(len(bundles), 1), len(self.names)), dtype=torch.long)
        position = {name: i for i, name in enumerate(self.names)}
        value_ids = {name: {value: k + 1 for k, value in enumerate(values)} for name, values in self.inventory.items()}
        for row, bundle in enumerate(bundles):
            if bundle != "_":
                for feature in bundle.split("|"):
                    name, _, value = feature.partition("=")
                    table[row, position[name]] = value_ids[name][value]
        # derived from the label list, so not saved with the weights
        self.register_buffer("bundle_values", table, persistent=False)  # (n_bundles, F)
        self._labels: List[str] = list(bundles)
        self._ids: Dict[Tuple[int, ...], int] = {tuple(row): i for i, row in enumerate(table.tolist()[: len(bundles)])}

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, sum of per-feature sizes) scores, feature after feature."""
        return self.linear(states)

    def loss(self, scores: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        """Sum over features of the mean cross-entropy over annotated words; ``gold`` (B, T) bundle ids."""
        annotated = gold != IGNORE_INDEX
        values = self.bundle_values[gold.clamp(min=0)]  # (B, T, F)
        values = values.masked_fill(~annotated[..., None], IGNORE_INDEX)
        total = scores.new_zeros(())
        for f, part in enumerate(scores.split(self.sizes, dim=-1)):
            total = total + F.cross_entropy(part.flatten(0, 1), values[..., f].flatten(), ignore_index=IGNORE_INDEX)
        return total

    def predict(self, scores: torch.Tensor) -> torch.Tensor:
        """Bundle ids (B, T) of the best value of each feature; bundles new to :meth:`labels` are appended to it."""
        values = torch.stack([part.argmax(-1) for part in scores.split(self.sizes, dim=-1)], dim=-1)  # (B, T, F)
        if not self.names:
            return torch.zeros(values.shape[:2], dtype=torch.long, device=values.device)
        rows, inverse = torch.unique(values.flatten(0, 1), dim=0, return_inverse=True)
        ids = [self._bundle_id(tuple(row)) for row in rows.tolist()]
        return torch.tensor(ids, dtype=torch.long, device=values.device)[inverse].view(values.shape[:2])

    def _bundle_id(self, row: Tuple[int, ...]) -> int:
        if row not in self._ids:
            features = [f"{name}={self.inventory[name][v - 1]}" for name, v in zip(self.names, row) if v != ABSENT]
            self._ids[row] = len(self._labels)
            self._labels.append("|".join(features) or "_")
        return self._ids[row]

    def labels(self) -> List[str]:
        """The bundles predicted ids index: the training ones, then those composed so far."""
        return self._labels
