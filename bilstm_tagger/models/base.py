"""What every neural tagger shares: per-target logits from a batch, the training loss, and argmax decoding.

A family implements ``forward(batch) -> {target: (B, T, n_labels)}``; the loss, argmax prediction and the
length-bucketed ``tag_ids`` live here so that the families are trained and run the same way (the seq2seq family
overrides ``loss`` and ``predict`` for its decoder). ``run_packed`` is the shared way of running an RNN over padding.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..batching import Batch, length_batches, make_batch
from ..vocab import IGNORE_INDEX, Vocabularies


def run_packed(rnn: nn.Module, inputs: torch.Tensor, lengths: torch.Tensor):
    """Run a recurrent module over padded inputs, never reading past a sentence's end.

    Returns:
        The states (B, T, H), zero after each sentence's end, and the module's final state at each sentence's
        last word (for an LSTM, (h, c), each (layers * directions, B, H)).
    """
    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    states, final = rnn(packed)
    states, _ = pad_packed_sequence(states, batch_first=True, total_length=inputs.shape[1])
    return states, final


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

    def tag_ids(
        self, sentences: Sequence[Sequence[str]], vocabs: Vocabularies, *, device: torch.device, batch_words: int
    ) -> List[Dict[str, List[int]]]:
        """Best label ids for non-empty sentences, batched by length; the result does not depend on batch_words."""
        results: List[Dict[str, List[int]]] = [{} for _ in sentences]
        self.eval()
        for group in length_batches([len(s) for s in sentences], batch_words=batch_words):
            batch = make_batch([sentences[i] for i in group], vocabs).to(device)
            predicted = {target: ids.cpu().tolist() for target, ids in self.predict(batch).items()}
            for row, i in enumerate(group):
                n = len(sentences[i])
                results[i] = {target: ids[row][:n] for target, ids in predicted.items()}
        return results
