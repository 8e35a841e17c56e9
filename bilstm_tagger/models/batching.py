"""Turning sentences into padded tensors, and grouping sentences of similar length into batches.

Each batch holds the characters of each *distinct* form once (``type_chars``), with ``word_types`` pointing every
word at its form: the character encoder then runs once per form, not once per token.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..corpus import Sentence
from ..vocab import IGNORE_INDEX, PAD_ID, UNK_ID, Vocabularies, word_key


@dataclass
class Batch:
    """Padded tensors for a batch of B sentences of at most T words, with U distinct forms of at most L chars.

    Attributes:
        words: (B, T) word ids, ``PAD_ID`` after each sentence's end.
        word_types: (B, T) index of each word's form in ``type_chars`` (0 for padding, masked downstream).
        type_chars: (U, L) character ids of each distinct form, ``PAD_ID`` padded (None with ``form_vectors``).
        type_lengths: (U,) number of characters of each form (None with ``form_vectors``).
        lengths: (B,) number of words of each sentence.
        targets: per target, (B, T) label ids, ``IGNORE_INDEX`` for padding and unannotated words.
        form_vectors: (U, F) per-form vectors already computed by the model's ``encode_forms`` (a
            :class:`~bilstm_tagger.inference.form_cache.FormCache` at inference), used instead of ``type_chars``.
        form_encoding: what ``form_vectors`` hold: "embedding" (word representations) or another of the model's
            ``form_encodings``.
        int8_steps: with cached projections, run the step loop's matrix products in int8 (the ``int8_steps``
            inference option).
        type_lexicon: (U, 4) lexicon ids of each distinct form (:meth:`~bilstm_tagger.lexicon.Lexicon.ids`), for
            vocabularies with a lexicon (None otherwise, and with ``form_vectors``).
    """

    words: torch.Tensor
    word_types: torch.Tensor
    type_chars: Optional[torch.Tensor]
    type_lengths: Optional[torch.Tensor]
    lengths: torch.Tensor
    targets: Dict[str, torch.Tensor] = field(default_factory=dict)
    form_vectors: Optional[torch.Tensor] = None
    form_encoding: str = "embedding"
    int8_steps: bool = False
    type_lexicon: Optional[torch.Tensor] = None

    @property
    def n_words(self) -> int:
        return int(self.lengths.sum())

    def to(self, device: torch.device) -> "Batch":
        return Batch(
            words=self.words.to(device),
            word_types=self.word_types.to(device),
            type_chars=None if self.type_chars is None else self.type_chars.to(device),
            type_lengths=self.type_lengths,  # pack_padded_sequence wants lengths on the CPU
            lengths=self.lengths,
            targets={k: v.to(device) for k, v in self.targets.items()},
            form_vectors=None if self.form_vectors is None else self.form_vectors.to(device),
            form_encoding=self.form_encoding,
            int8_steps=self.int8_steps,
            type_lexicon=None if self.type_lexicon is None else self.type_lexicon.to(device),
        )


def make_batch(
    sentences: Sequence[Sequence[str]],
    vocabs: Vocabularies,
    *,
    labels: Optional[Sequence[Sentence]] = None,
    word_dropout: float = 0.0,
    rng: Optional[random.Random] = None,
) -> Batch:
    """Tensorise a batch of sentences.

    Args:
        sentences: each sentence's word forms (at least one word each).
        vocabs: the model's vocabularies and label sets.
        labels: the same sentences with gold annotation, to fill ``Batch.targets`` (training and loss only).
        word_dropout: alpha of frequency-aware word dropout: a word seen c times in training is replaced by
            ``UNK_ID`` with probability alpha / (alpha + c), so rare words teach the UNK embedding. 0 disables it.
        rng: random source for word dropout (required when ``word_dropout > 0``).
    """
    n = len(sentences)
    max_len = max((len(s) for s in sentences), default=0)
    words = torch.full((n, max_len), PAD_ID, dtype=torch.long)
    word_types = torch.zeros((n, max_len), dtype=torch.long)
    lengths = torch.tensor([len(s) for s in sentences], dtype=torch.long)
    type_index: Dict[str, int] = {}
    word_index = vocabs.words.index
    counts = vocabs.words.counts
    for i, forms in enumerate(sentences):
        ids = []
        types = []
        for form in forms:
            wid = word_index.get(word_key(form), UNK_ID)
            if word_dropout > 0.0 and wid != UNK_ID and rng.random() < word_dropout / (word_dropout + counts[wid]):
                wid = UNK_ID
            ids.append(wid)
            types.append(type_index.setdefault(form, len(type_index)))
        words[i, : len(forms)] = torch.tensor(ids, dtype=torch.long)
        word_types[i, : len(forms)] = torch.tensor(types, dtype=torch.long)
    distinct = list(type_index)
    type_chars, type_lengths = char_ids(distinct, vocabs)
    type_lexicon = lexicon_ids(distinct, vocabs)
    targets = {}
    if labels is not None:
        for target, label_list in vocabs.labels.items():
            index = {label: i for i, label in enumerate(label_list)}
            tensor = torch.full((n, max_len), IGNORE_INDEX, dtype=torch.long)
            for i, sentence in enumerate(labels):
                values = [getattr(word, target) for word in sentence.words]
                tensor[i, : len(values)] = torch.tensor(
                    [IGNORE_INDEX if v is None else index.get(v, IGNORE_INDEX) for v in values], dtype=torch.long
                )
            targets[target] = tensor
    return Batch(words, word_types, type_chars, type_lengths, lengths, targets, type_lexicon=type_lexicon)


def char_ids(forms: Sequence[str], vocabs) -> Tuple[torch.Tensor, torch.Tensor]:
    """Character ids of forms, (U, L) ``PAD_ID`` padded, and their lengths, (U,); both on the CPU. ``vocabs`` is the
    tagger's :class:`Vocabularies` or the lemmatizer's :class:`~bilstm_tagger.vocab.LemmaVocabularies` (its
    ``chars``).

    An empty form (a spaCy token can be one) is read as one unknown character, since an RNN needs at least one step.
    """
    # every form's ids in one flat list, scattered into the padded rows by numpy: a tensor per form cost 3 µs of a
    # new form's 30 in a form cache (bench/RESULTS.md, "Speed")
    char_index = vocabs.chars.index
    lengths = np.fromiter((len(form) or 1 for form in forms), dtype=np.int64, count=len(forms))
    flat = np.fromiter(
        itertools.chain.from_iterable([char_index.get(c, UNK_ID) for c in form] or [UNK_ID] for form in forms),
        dtype=np.int64, count=int(lengths.sum()),
    )
    chars = np.full((len(forms), int(lengths.max(initial=1))), PAD_ID, dtype=np.int64)
    chars[np.arange(chars.shape[1])[None, :] < lengths[:, None]] = flat  # row-major: each form's ids in order
    return torch.from_numpy(chars), torch.from_numpy(lengths)


def lexicon_ids(forms: Sequence[str], vocabs: Vocabularies) -> Optional[torch.Tensor]:
    """The lexicon ids of forms, (U, 4) on the CPU (:meth:`~bilstm_tagger.lexicon.Lexicon.ids`); None when the
    vocabularies have no lexicon."""
    return None if vocabs.lexicon is None else torch.from_numpy(vocabs.lexicon.ids(forms))


def length_batches(
    lengths: Sequence[int], *, batch_words: int, rng: Optional[random.Random] = None
) -> List[List[int]]:
    """Group sentence indices into batches of similar length, each padding to at most ``batch_words`` slots.

    Args:
        lengths: number of words of each sentence.
        batch_words: budget of padded word slots per batch (a longer sentence still gets a batch of its own).
        rng: when given, ties in length are broken at random and the batch order is shuffled (training);
            without it the grouping is deterministic (prediction).

    Returns:
        Lists of indices into ``lengths``; every index appears exactly once.
    """
    order = list(range(len(lengths)))
    if rng is not None:
        rng.shuffle(order)
    order.sort(key=lambda i: lengths[i])  # stable: shuffled ties stay shuffled
    batches: List[List[int]] = []
    current: List[int] = []
    for i in order:
        # Sorted ascending, so the new sentence is the longest: it sets the padded width.
        if current and (len(current) + 1) * lengths[i] > batch_words:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    if rng is not None:
        rng.shuffle(batches)
    return batches
