"""The BiLSTM tagger: word + character representations, a multi-layer BiLSTM, one linear head per target."""

from __future__ import annotations

import functools
from typing import Callable, Dict

import torch
from torch import nn

from ..batching import Batch
from ..registry import registry
from .base import NeuralTagger, run_packed
from .embedding import WordCharEmbedding


class BiLSTMTagger(NeuralTagger):
    """Sequence labeller reading the whole sentence in both directions.

    Args:
        n_words: word vocabulary size.
        n_chars: character vocabulary size.
        n_labels: number of labels per trained target.
        word_dim: word embedding size.
        char_dim: character embedding size.
        char_hidden: character encoder size (see :class:`WordCharEmbedding`).
        char_encoder: "lstm" or "cnn".
        hidden: BiLSTM size per direction.
        layers: number of stacked BiLSTM layers.
        dropout: dropout on the word representation, between layers and before the heads.
    """

    def __init__(
        self,
        *,
        n_words: int,
        n_chars: int,
        n_labels: Dict[str, int],
        word_dim: int = 128,
        char_dim: int = 64,
        char_hidden: int = 128,
        char_encoder: str = "lstm",
        hidden: int = 256,
        layers: int = 2,
        dropout: float = 0.33,
    ) -> None:
        super().__init__(n_labels=n_labels)
        self.embedding = WordCharEmbedding(
            n_words=n_words,
            n_chars=n_chars,
            word_dim=word_dim,
            char_dim=char_dim,
            char_hidden=char_hidden,
            char_encoder=char_encoder,
        )
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            self.embedding.output_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.heads = nn.ModuleDict({target: nn.Linear(2 * hidden, n) for target, n in n_labels.items()})

    def forward(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """Per-target logits, each (B, T, n_labels[target])."""
        inputs = self.dropout(self.embedding(batch))  # (B, T, D)
        states = self.dropout(run_packed(self.lstm, inputs, batch.lengths)[0])  # (B, T, 2 * hidden)
        return {target: head(states) for target, head in self.heads.items()}


@registry.architectures("bilstm_tagger.BiLSTM.v1")
def build_bilstm_tagger(
    *,
    word_dim: int = 128,
    char_dim: int = 64,
    char_hidden: int = 128,
    char_encoder: str = "lstm",
    hidden: int = 256,
    layers: int = 2,
    dropout: float = 0.33,
) -> Callable[..., BiLSTMTagger]:
    """Config builder: the hyperparameters now, the data-dependent sizes (``n_words``, ``n_chars``, ``n_labels``)
    when the vocabularies are known."""
    return functools.partial(
        BiLSTMTagger,
        word_dim=word_dim,
        char_dim=char_dim,
        char_hidden=char_hidden,
        char_encoder=char_encoder,
        hidden=hidden,
        layers=layers,
        dropout=dropout,
    )
