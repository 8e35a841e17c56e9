"""Word representations shared by the neural families: a word embedding beside a character-level encoder.

The character encoder runs over the batch's distinct forms (``Batch.type_chars``) and its output is gathered back
to every token, so a frequent word's characters are encoded once per batch; at inference a
:class:`~bilstm_tagger.inference.form_cache.FormCache` hands over representations it keeps across batches
(``Batch.form_vectors``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..vocab import PAD_ID
from .batching import Batch


class WordCharEmbedding(nn.Module):
    """Concatenation of a word embedding and a character encoding of the form.

    Args:
        n_words: word vocabulary size.
        n_chars: character vocabulary size.
        word_dim: word embedding size.
        char_dim: character embedding size.
        char_hidden: character encoder size: per direction for "lstm", number of filters / 2 for "cnn", so both
            give ``2 * char_hidden`` features.
        char_encoder: "lstm" (a BiLSTM whose two final states are concatenated) or "cnn" (width-3 convolution,
            max-pooled over the form).
    """

    def __init__(
        self, *, n_words: int, n_chars: int, word_dim: int, char_dim: int, char_hidden: int, char_encoder: str
    ) -> None:
        super().__init__()
        if char_encoder not in ("lstm", "cnn"):
            raise ValueError(f"char_encoder must be 'lstm' or 'cnn', not {char_encoder!r}")
        self.char_encoder = char_encoder
        self.word_embedding = nn.Embedding(n_words, word_dim, padding_idx=PAD_ID)
        self.char_embedding = nn.Embedding(n_chars, char_dim, padding_idx=PAD_ID)
        if char_encoder == "lstm":
            self.char_rnn = nn.LSTM(char_dim, char_hidden, batch_first=True, bidirectional=True)
        else:
            self.char_cnn = nn.Conv1d(char_dim, 2 * char_hidden, kernel_size=3, padding=1)
        self.output_dim = word_dim + 2 * char_hidden

    def encode_types(self, type_chars: torch.Tensor, type_lengths: torch.Tensor) -> torch.Tensor:
        """Encode distinct forms: (U, L) char ids and (U,) lengths -> (U, 2 * char_hidden)."""
        chars = self.char_embedding(type_chars)
        if self.char_encoder == "lstm":
            packed = pack_padded_sequence(chars, type_lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.char_rnn(packed)
            return torch.cat([h_n[0], h_n[1]], dim=-1)
        features = torch.relu(self.char_cnn(chars.transpose(1, 2)))  # (U, F, L)
        mask = (type_chars == PAD_ID).unsqueeze(1)
        return features.masked_fill(mask, float("-inf")).amax(dim=-1)

    def encode_forms(self, word_ids: torch.Tensor, type_chars: torch.Tensor, type_lengths: torch.Tensor) -> torch.Tensor:
        """Representations of distinct forms: (U,) word ids, (U, L) char ids, (U,) lengths -> (U, output_dim)."""
        return torch.cat([self.word_embedding(word_ids), self.encode_types(type_chars, type_lengths)], dim=-1)

    def forward(self, batch: Batch) -> torch.Tensor:
        """(B, T) words -> (B, T, output_dim); with ``batch.form_vectors`` (from :meth:`encode_forms`, encoding
        "embedding"), a gather."""
        if batch.form_vectors is not None:
            return batch.form_vectors[batch.word_types]
        types = self.encode_types(batch.type_chars, batch.type_lengths)
        return torch.cat([self.word_embedding(batch.words), types[batch.word_types]], dim=-1)
