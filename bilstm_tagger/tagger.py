"""A trained tagger ready to use: vocabularies, network and device together, tagging lists of word forms.

This is what :func:`bilstm_tagger.serialization.load_model` returns and what ``evaluate``, ``predict`` and the
spaCy component call.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from confection import Config

from .batching import length_batches, make_batch
from .models.base import NeuralTagger
from .vocab import Vocabularies

#: Padded word slots per batch at prediction time: big enough to keep the matrices busy, small enough for RAM.
PREDICT_BATCH_WORDS = 4096

Tags = Dict[str, List[str]]


class Tagger:
    """A trained network with its vocabularies.

    Args:
        config: the resolved training config the network was built from.
        vocabs: vocabularies and label sets.
        network: the torch module, already holding its trained weights.
        device: where to run it.
    """

    def __init__(
        self, *, config: Config, vocabs: Vocabularies, network: NeuralTagger, device: torch.device, meta: Optional[dict] = None
    ) -> None:
        self.config = config
        self.vocabs = vocabs
        self.network = network.to(device).eval()
        self.device = device
        self.meta = meta or {}

    @property
    def targets(self) -> List[str]:
        return self.vocabs.targets

    def to(self, device: torch.device) -> "Tagger":
        self.network.to(device)
        self.device = device
        return self

    def tag(self, sentences: Sequence[Sequence[str]], *, batch_words: int = PREDICT_BATCH_WORDS) -> List[Tags]:
        """Tag sentences given as word forms.

        Args:
            sentences: each sentence's words; an empty sentence gets empty tag lists.
            batch_words: padded word slots per batch; the result does not depend on it.

        Returns:
            For each sentence, a dict from each trained target (``upos``, ``xpos``, ``feats``) to one label per word.
        """
        results: List[Optional[Tags]] = [None] * len(sentences)
        nonempty = [i for i, s in enumerate(sentences) if len(s) > 0]
        for i in range(len(sentences)):
            if len(sentences[i]) == 0:
                results[i] = {target: [] for target in self.targets}
        lengths = [len(sentences[i]) for i in nonempty]
        self.network.eval()
        for group in length_batches(lengths, batch_words=batch_words):
            indices = [nonempty[j] for j in group]
            batch = make_batch([sentences[i] for i in indices], self.vocabs).to(self.device)
            predicted = {target: ids.cpu().tolist() for target, ids in self.network.predict(batch).items()}
            for row, i in enumerate(indices):
                n = len(sentences[i])
                results[i] = {
                    target: [self.vocabs.labels[target][k] for k in ids[row][:n]] for target, ids in predicted.items()
                }
        return results  # type: ignore[return-value]
