"""The character-level lemmatizer: the seq2seq design put to the job it is best known for (Stanza's lemmatizer).

A BiLSTM encodes the form's characters, each concatenated with an embedding of the word's UPOS; an LSTM decoder,
started from the encoder's final states, writes the lemma character by character, attending over the encoder states
at every step (Luong et al. 2015, "general" scores) and reading the UPOS embedding again with every input character.
Decoding is beam search (``beam_size`` hypotheses; 1 = greedy) that keeps the greedy result as a candidate, so a
wider beam never scores lower under the model.

With ``edit_classifier`` (Stanza's "edit" head), a classifier over the encoder's final states first says whether the
lemma is the form itself, the form lower-cased, or something to decode; a shortcut is taken when its probability is
at least ``edit_threshold``. Shortcuts cannot misspell: without them, 119 of the 247 lemma errors on EWT dev words
with the right UPOS and an unseen (form, UPOS) were lemmas equal to the form (URLs, e-mail addresses, names, symbol
runs) that the decoder garbled. Only the words left to decode pay for the decoder.

The model only writes lemmas; which words reach it is the inference layer's decision
(:mod:`bilstm_tagger.inference.lemmatization`: a (form, UPOS) seen in training is answered from the training
dictionary, and every lemma is computed once per (form, UPOS)).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..registry import registry
from ..vocab import IGNORE_INDEX, PAD_ID, UNK_ID, LemmaVocabularies
from .base import architecture_builder
from .batching import char_ids
from .beam import Beam
from .neural import load_module_arrays, module_arrays, run_packed

#: A decoded lemma may be this many characters longer than its form (German "gab" -> "geben" is 2).
EXTRA_STEPS = 10
#: The edit classifier's classes, in the order of its outputs.
EDITS = ("decode", "identity", "lower")


def edit_of(form: str, lemma: str) -> str:
    """The edit that turns ``form`` into ``lemma``: one of :data:`EDITS` (identity first)."""
    if lemma == form:
        return "identity"
    return "lower" if lemma == form.lower() else "decode"


def apply_edit(edit: str, form: str) -> Optional[str]:
    """The lemma an edit gives for ``form``; None for ``"decode"`` (the decoder must write it)."""
    return form if edit == "identity" else form.lower() if edit == "lower" else None


@dataclass
class LemmaBatch:
    """U words to lemmatize, at most L characters each; M lemma characters with ``<EOS>`` when training.

    Attributes:
        chars: (U, L) character ids of the forms, ``PAD_ID`` padded.
        lengths: (U,) characters per form (at least 1).
        upos: (U,) UPOS ids (``n_upos`` for a UPOS the lemmatizer never saw).
        targets: (U, M) lemma character ids followed by ``<EOS>``, ``IGNORE_INDEX`` padded; None at inference.
        edits: (U,) gold edit ids (index into :data:`EDITS`); None at inference.
    """

    chars: torch.Tensor
    lengths: torch.Tensor
    upos: torch.Tensor
    targets: Optional[torch.Tensor] = None
    edits: Optional[torch.Tensor] = None

    def to(self, device: torch.device) -> "LemmaBatch":
        return LemmaBatch(
            chars=self.chars.to(device),
            lengths=self.lengths,  # pack_padded_sequence wants lengths on the CPU
            upos=self.upos.to(device),
            targets=None if self.targets is None else self.targets.to(device),
            edits=None if self.edits is None else self.edits.to(device),
        )


def make_lemma_batch(
    forms: Sequence[str],
    upos: Sequence[Optional[str]],
    vocabs: LemmaVocabularies,
    lemmas: Optional[Sequence[str]] = None,
) -> LemmaBatch:
    """Tensorise words (form and UPOS), with their gold lemmas for training."""
    chars, lengths = char_ids(forms, vocabs)
    upos_index = vocabs.upos_index
    upos_ids = torch.tensor([upos_index.get(tag, len(vocabs.upos)) for tag in upos], dtype=torch.long)
    targets = edits = None
    if lemmas is not None:
        edits = torch.tensor([EDITS.index(edit_of(f, lemma)) for f, lemma in zip(forms, lemmas)], dtype=torch.long)
        eos = len(vocabs.chars)
        width = max(len(lemma) for lemma in lemmas) + 1
        index = vocabs.chars.index
        targets = torch.full((len(forms), width), IGNORE_INDEX, dtype=torch.long)
        for row, lemma in enumerate(lemmas):
            targets[row, : len(lemma) + 1] = torch.tensor([index.get(c, UNK_ID) for c in lemma] + [eos])
    return LemmaBatch(chars, lengths, upos_ids, targets, edits)


class CharLemmatizer(nn.Module):
    """Encoder-decoder over characters, conditioned on UPOS (``bilstm_tagger.Lemmatizer.v2``; defaults:
    ``configs/bilstm.cfg``'s ``[lemmatizer.model]``).

    Args:
        n_chars: character vocabulary size (input and output; the output adds ``<EOS>``).
        n_upos: number of UPOS labels (one more id stands for a UPOS never seen).
        char_dim: character embedding size.
        upos_dim: UPOS embedding size.
        hidden: encoder size per direction; the decoder has twice this.
        dropout: dropout on the embeddings and on the decoder output.
        beam_size: hypotheses kept while decoding (1 = greedy), unless a call says otherwise.
        edit_classifier: also learn which lemmas are the form or its lower case (:data:`EDITS`), and decode only
            the others (``bilstm_tagger.Lemmatizer.v1`` is this model without it).
        edit_threshold: the probability the classifier must give "identity" or "lower" for that shortcut to be
            taken; below it the word is decoded.
    """

    family: ClassVar[str] = "Lemmatizer"
    data_sizes: ClassVar[Tuple[str, ...]] = ("n_chars", "n_upos")

    def __init__(
        self,
        *,
        n_chars: int,
        n_upos: int,
        char_dim: int = 64,
        upos_dim: int = 32,
        hidden: int = 128,
        dropout: float = 0.2,
        beam_size: int = 1,
        edit_classifier: bool = True,
        edit_threshold: float = 0.9,
    ) -> None:
        super().__init__()
        self.eos = n_chars  # output id of <EOS>
        self.bos = n_chars + 1  # only ever an input
        self.beam_size = beam_size
        self.edit_threshold = edit_threshold
        self.char_embedding = nn.Embedding(n_chars + 2, char_dim, padding_idx=PAD_ID)
        self.upos_embedding = nn.Embedding(n_upos + 1, upos_dim)
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.LSTM(char_dim + upos_dim, hidden, batch_first=True, bidirectional=True)
        self.decoder = nn.LSTM(char_dim + upos_dim, 2 * hidden, batch_first=True)
        self.attention_score = nn.Linear(2 * hidden, 2 * hidden, bias=False)
        self.attention_combine = nn.Linear(4 * hidden, 2 * hidden)
        self.output = nn.Linear(2 * hidden, n_chars + 1)
        self.edit_classifier = nn.Linear(4 * hidden, len(EDITS)) if edit_classifier else None

    @classmethod
    def from_vocabs(cls, vocabs: LemmaVocabularies, **hyperparameters) -> "CharLemmatizer":
        """A new, untrained lemmatizer for these vocabularies."""
        return cls(n_chars=len(vocabs.chars), n_upos=len(vocabs.upos), **hyperparameters)

    # -- the pieces -------------------------------------------------------------------------------------------------

    def _with_upos(self, chars: torch.Tensor, upos: torch.Tensor) -> torch.Tensor:
        """(N, S) char ids and (N,) UPOS ids -> (N, S, char_dim + upos_dim) inputs."""
        embedded = self.dropout(self.char_embedding(chars))
        tag = self.dropout(self.upos_embedding(upos))[:, None, :].expand(-1, chars.shape[1], -1)
        return torch.cat([embedded, tag], dim=-1)

    def encode(self, batch: LemmaBatch):
        """Encoder states (U, L, 2H), their mask (U, L), and the decoder's initial (h, c), each (1, U, 2H)."""
        states, (h, c) = run_packed(self.encoder, self._with_upos(batch.chars, batch.upos), batch.lengths)
        mask = torch.arange(states.shape[1], device=states.device)[None, :] < batch.lengths.to(states.device)[:, None]
        initial = (torch.cat([h[0], h[1]], dim=-1)[None], torch.cat([c[0], c[1]], dim=-1)[None])
        return states, mask, initial

    def attend(self, out: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attentional outputs (N, S, 2H) for decoder outputs (N, S, 2H) over memory (N, L, 2H), mask (N, L)."""
        scores = torch.einsum("nsh,nlh->nsl", self.attention_score(out), memory)
        weights = scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)
        context = torch.einsum("nsl,nlh->nsh", weights, memory)
        return torch.tanh(self.attention_combine(torch.cat([context, out], dim=-1)))

    def edit_logits(self, initial: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """(U, len(EDITS)) edit scores from the encoder's final (h, c), each (1, U, 2H)."""
        return self.edit_classifier(self.dropout(torch.cat([initial[0][0], initial[1][0]], dim=-1)))

    # -- training -------------------------------------------------------------------------------------------------

    def forward(self, batch: LemmaBatch) -> torch.Tensor:
        """Teacher-forced logits (U, M, n_chars + 1): step t is fed the gold character t - 1 (``<BOS>`` first)."""
        return self._teacher_forced(batch, *self.encode(batch))

    def _teacher_forced(self, batch: LemmaBatch, memory, mask, initial) -> torch.Tensor:
        gold = batch.targets
        fed = torch.where(gold >= 0, gold, torch.full_like(gold, PAD_ID))[:, :-1]
        previous = torch.cat([torch.full_like(gold[:, :1], self.bos), fed], dim=1)  # (U, M)
        outputs, _ = self.decoder(self._with_upos(previous, batch.upos), initial)
        return self.output(self.dropout(self.attend(outputs, memory, mask)))

    def loss(self, batch: LemmaBatch) -> torch.Tensor:
        """Mean cross-entropy per lemma character (``<EOS>`` included), plus the edit classifier's mean
        cross-entropy per word when the model has one (the decoder still learns every lemma, as Stanza's does)."""
        memory, mask, initial = self.encode(batch)
        logits = self._teacher_forced(batch, memory, mask, initial)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE_INDEX)
        if self.edit_classifier is not None:
            loss = loss + F.cross_entropy(self.edit_logits(initial), batch.edits)
        return loss

    # -- decoding -------------------------------------------------------------------------------------------------

    def _edits(self, initial: Tuple[torch.Tensor, torch.Tensor]) -> List[str]:
        """Each word's edit from the encoder's final states: the classifier's most probable one if it has at least
        ``edit_threshold``, else ``"decode"`` (always, without a classifier)."""
        n = initial[0].shape[1]
        if self.edit_classifier is None:
            return ["decode"] * n
        probability, best = self.edit_logits(initial).float().softmax(-1).max(-1)
        best = best.masked_fill(probability < self.edit_threshold, EDITS.index("decode"))
        return [EDITS[i] for i in best.tolist()]

    @torch.inference_mode()
    def predict_edits(self, batch: LemmaBatch) -> List[str]:
        """Each word's edit (one of :data:`EDITS`; see :meth:`predict_lemmas`)."""
        self.eval()
        return self._edits(self.encode(batch)[2])

    @torch.inference_mode()
    def predict_lemmas(
        self, batch: LemmaBatch, *, beam_size: Optional[int] = None
    ) -> Tuple[List[str], List[Optional[List[int]]]]:
        """Each word's edit, and for the words whose edit is ``"decode"`` their lemma as character ids (None for the
        others): the forms are encoded once, and only the words left to decode go through the decoder."""
        self.eval()
        memory, mask, initial = self.encode(batch)
        edits = self._edits(initial)
        sequences: List[Optional[List[int]]] = [None] * len(edits)
        rows = [i for i, edit in enumerate(edits) if edit == "decode"]
        if rows:
            index = torch.tensor(rows, device=memory.device)
            chosen = LemmaBatch(chars=batch.chars[index], lengths=batch.lengths[index.cpu()], upos=batch.upos[index])
            encoded = (memory[index], mask[index], (initial[0][:, index], initial[1][:, index]))
            for row, ids in zip(rows, self.decode(chosen, beam_size=beam_size, encoded=encoded)[0]):
                sequences[row] = ids
        return edits, sequences

    @torch.inference_mode()
    def predict(self, batch: LemmaBatch, *, beam_size: Optional[int] = None) -> List[List[int]]:
        """The decoder's lemma of each word (the edit classifier aside), as character ids without ``<EOS>``."""
        self.eval()
        sequences, _ = self.decode(batch, beam_size=beam_size)
        return sequences

    def decode(
        self, batch: LemmaBatch, *, beam_size: Optional[int] = None, encoded=None
    ) -> Tuple[List[List[int]], torch.Tensor]:
        """Beam search, never worse than greedy under the model: character ids per word and log-probabilities (U,).
        ``encoded`` is :meth:`encode`'s output for ``batch`` when the caller has it."""
        beam_size = self.beam_size if beam_size is None else beam_size
        encoded = self.encode(batch) if encoded is None else encoded
        sequences, scores = self.beam_search(batch, encoded, beam_size)
        if beam_size > 1:
            greedy, greedy_scores = self.beam_search(batch, encoded, 1)
            better = (greedy_scores > scores).tolist()
            sequences = [g if b else s for s, g, b in zip(sequences, greedy, better)]
            scores = torch.where(greedy_scores > scores, greedy_scores, scores)
        return sequences, scores

    def beam_search(self, batch: LemmaBatch, encoded, beam_size: int) -> Tuple[List[List[int]], torch.Tensor]:
        """Decode every word at once, ``beam_size`` (K) hypotheses each.

        The search is :class:`~bilstm_tagger.models.beam.Beam`'s. A word's lemma is cut at ``EXTRA_STEPS``
        characters more than its form (its own cap, so that batching does not change results).

        Returns:
            Character ids per word (without ``<EOS>``), and each lemma's log-probability with ``<EOS>`` (U,).
        """
        memory, mask, (h, c) = encoded
        n, k = memory.shape[0], beam_size
        device = memory.device
        limits = batch.lengths.to(device) + EXTRA_STEPS  # (U,)
        expand = functools.partial(torch.repeat_interleave, repeats=k, dim=0)
        memory, mask, upos = expand(memory), expand(mask), expand(batch.upos.to(device))
        state = (h.repeat_interleave(k, dim=1), c.repeat_interleave(k, dim=1))
        beam = Beam(n, k, self.eos + 1, self.eos, device)
        previous = torch.full((n * k,), self.bos, dtype=torch.long, device=device)
        for t in range(int(limits.max()) + 1):
            out, state = self.decoder(self._with_upos(previous[:, None], upos), state)
            log_probs = self.output(self.attend(out, memory, mask)).squeeze(1).log_softmax(-1).view(n, k, beam.vocab)
            at_limit = (t >= limits)[:, None, None]  # past a word's cap only <EOS> is left
            log_probs = log_probs.masked_fill(at_limit & ~beam.is_eos, float("-inf"))
            _, chars, flat = beam.advance(log_probs)
            state = (state[0][:, flat], state[1][:, flat])
            previous = chars.flatten()
            if beam.done:
                break
        best, best_scores = beam.best()
        steps, _ = beam.trace(best)
        sequences = []
        for row in steps.tolist():
            end = row.index(self.eos) if self.eos in row else len(row)
            sequences.append(row[:end])
        return sequences, best_scores.cpu()

    @torch.inference_mode()
    def sequence_log_prob(self, batch: LemmaBatch) -> torch.Tensor:
        """log P(lemma + ``<EOS>`` | form, UPOS) of each word's gold lemma in ``batch.targets``, (U,)."""
        self.eval()
        log_probs = self(batch).log_softmax(-1)
        gold = batch.targets
        picked = log_probs.gather(-1, gold.clamp(min=0)[..., None]).squeeze(-1)
        return picked.masked_fill(gold == IGNORE_INDEX, 0.0).sum(-1).cpu()

    def to_arrays(self) -> Dict[str, np.ndarray]:
        return module_arrays(self)

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        load_module_arrays(self, arrays)


build_char_lemmatizer = registry.architectures("bilstm_tagger.Lemmatizer.v2")(architecture_builder(CharLemmatizer))
#: The first version, without the edit classifier: what model directories written before v2 name.
build_char_lemmatizer_v1 = registry.architectures("bilstm_tagger.Lemmatizer.v1")(
    architecture_builder(CharLemmatizer, fixed={"edit_classifier": False, "edit_threshold": 1.0})
)
