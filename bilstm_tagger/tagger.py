"""A trained tagger ready to use: vocabularies, network and device together, tagging lists of word forms.

This is what :func:`bilstm_tagger.serialization.load_model` returns and what ``evaluate``, ``predict`` and the
spaCy component call.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import torch
from confection import Config

from .errors import BilstmTaggerError
from .models.base import NeuralTagger
from .models.hmm import HMMTagger
from .vocab import Vocabularies

#: Padded word slots per batch at prediction time: big enough to keep the matrices busy, small enough for RAM.
PREDICT_BATCH_WORDS = 4096

Tags = Dict[str, List[Optional[str]]]
TaggerModel = Union[NeuralTagger, HMMTagger]


class Tagger:
    """A trained model of any family with its vocabularies.

    Args:
        config: the resolved training config the model was built from.
        vocabs: vocabularies and label sets.
        network: the model (a torch :class:`NeuralTagger` or the numpy HMM), holding its trained weights.
        device: where a torch model runs (the HMM always runs on the CPU).
        meta: the model directory's ``meta.json``.
    """

    def __init__(
        self, *, config: Config, vocabs: Vocabularies, network: TaggerModel, device: torch.device, meta: Optional[dict] = None
    ) -> None:
        self.config = config
        self.vocabs = vocabs
        self.network = network
        self.meta = meta or {}
        self.to(device)

    @property
    def targets(self) -> List[str]:
        return self.vocabs.targets

    def to(self, device: torch.device) -> "Tagger":
        if isinstance(self.network, torch.nn.Module):
            self.network.to(device).eval()
        self.device = device
        return self

    def set_decoding(self, *, beam_size: Optional[int] = None, constrain_length: Optional[bool] = None) -> None:
        """Change decoding settings of a model that has them (the seq2seq family's beam search).

        Raises:
            BilstmTaggerError: for a setting this model's family does not have.
        """
        for name, value in (("beam_size", beam_size), ("constrain_length", constrain_length)):
            if value is None:
                continue
            if not hasattr(self.network, name):
                raise BilstmTaggerError(
                    f"{name} is a decoding setting of seq2seq models; this model is {type(self.network).__name__}"
                )
            if name == "beam_size" and value < 1:
                raise BilstmTaggerError(f"beam size must be at least 1, not {value}")
            setattr(self.network, name, value)

    def tag(self, sentences: Sequence[Sequence[str]], *, batch_words: int = PREDICT_BATCH_WORDS) -> List[Tags]:
        """Tag sentences given as word forms.

        Args:
            sentences: each sentence's words; an empty sentence gets empty tag lists.
            batch_words: padded word slots per batch; the result does not depend on it.

        Returns:
            For each sentence, a dict from each trained target (``upos``, ``xpos``, ``feats``) to one label per word
            (None for a word the model left untagged, which only unconstrained seq2seq decoding does).
        """
        nonempty = [i for i, s in enumerate(sentences) if len(s) > 0]
        results: List[Tags] = [{target: [] for target in self.targets} for _ in sentences]
        predicted = self.network.tag_ids(
            [sentences[i] for i in nonempty], self.vocabs, device=self.device, batch_words=batch_words
        )
        labels = self.vocabs.labels
        for i, ids in zip(nonempty, predicted):
            # a negative id is a word the model left untagged (unconstrained seq2seq decoding): None, never a label
            results[i] = {target: [labels[target][k] if k >= 0 else None for k in row] for target, row in ids.items()}
        return results
