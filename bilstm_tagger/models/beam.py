"""Beam-search bookkeeping shared by the seq2seq tagger and the lemmatizer: K hypotheses for each of N items,
advanced a step at a time from the decoder's log-probabilities, then followed back from the best finished one.

A hypothesis that has emitted ``<EOS>`` stays in the beam and can only be extended by ``<EOS>`` at no cost, so
finished and live hypotheses compete for the same K places; an item is done once its best hypothesis is finished,
since a live one can only lose probability. The decoders own the model steps and any masking of what may come
next (a length cap, a tag per word); this class owns the scores, the back-pointers and the reordering.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import torch


class Beam:
    """K hypotheses for each of N items over a vocabulary of V ids, ``eos`` among them.

    Args:
        n: items decoded together. k: hypotheses per item. vocab: V. eos: the id that ends a hypothesis.
        device: where the scores live.
    """

    def __init__(self, n: int, k: int, vocab: int, eos: int, device: torch.device) -> None:
        self.n, self.k, self.vocab, self.eos = n, k, vocab, eos
        self.scores = torch.full((n, k), float("-inf"), device=device)
        self.scores[:, 0] = 0.0  # one hypothesis to start from, not k copies of it
        self.finished = torch.zeros(n, k, dtype=torch.bool, device=device)
        self.is_eos = torch.arange(vocab, device=device) == eos  # (V,)
        self.only_eos = torch.full((vocab,), float("-inf"), device=device).masked_fill(self.is_eos, 0.0)
        self.offsets = (torch.arange(n, device=device) * k)[:, None]
        self.history: List[Tuple[torch.Tensor, torch.Tensor]] = []  # per step: (rows, ids), each (N, K)

    def advance(self, log_probs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step from log-probabilities (N, K, V) of every hypothesis's next id.

        Returns:
            rows (N, K): the hypothesis each new one extends; ids (N, K): the id it added; and ``flat`` (N*K,):
            the rows as indices into the flattened (N*K) decoder state, to reorder it with.
        """
        log_probs = torch.where(self.finished[..., None], self.only_eos, log_probs)
        top_scores, top_index = (self.scores[..., None] + log_probs).view(self.n, self.k * self.vocab).topk(
            self.k, dim=-1
        )
        rows, ids = top_index // self.vocab, top_index % self.vocab
        self.history.append((rows, ids))
        self.scores = top_scores
        self.finished = self.finished.gather(1, rows) | (ids == self.eos)
        return rows, ids, (rows + self.offsets).flatten()

    @property
    def done(self) -> bool:
        """Every item's best hypothesis has finished."""
        return bool(self.finished[:, 0].all())

    def best(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The best finished hypothesis of each item (N,) and its score (N,)."""
        slot = torch.where(self.finished, self.scores, float("-inf")).argmax(-1)
        return slot, self.scores.gather(1, slot[:, None]).squeeze(1)

    def trace(self, slot: torch.Tensor, **alongside: List[torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Follow the back-pointers from hypothesis ``slot`` (N,) of each item.

        Args:
            alongside: per name, one (N, K) tensor per step, already reordered by that step's rows (what the
                decoder predicted beside the searched ids, such as the other targets' tags).

        Returns:
            The ids of each step (N, steps), and the same for each ``alongside`` stream.
        """
        steps = len(self.history)
        ids = torch.empty((self.n, steps), dtype=torch.long, device=self.scores.device)
        traced = {name: torch.empty_like(ids) for name in alongside}
        for t in range(steps - 1, -1, -1):
            rows, step_ids = self.history[t]
            ids[:, t] = step_ids.gather(1, slot[:, None]).squeeze(1)
            for name, stream in alongside.items():
                traced[name][:, t] = stream[t].gather(1, slot[:, None]).squeeze(1)
            slot = rows.gather(1, slot[:, None]).squeeze(1)
        return ids, traced
