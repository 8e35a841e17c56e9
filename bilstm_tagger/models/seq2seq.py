"""The seq2seq tagger: an LSTM encoder reads the sentence, an LSTM decoder writes its tags, then ``<EOS>``.

Without attention the encoder's final state (every layer's h and c) is the *only* thing the decoder sees of the
sentence, which is the bottleneck this baseline exists to measure; ``reverse_input`` feeds the words last to first
(Sutskever et al. 2014). With ``attention = true`` the decoder also attends over the encoder states at every step
(Luong et al. 2015: "general" scores, input feeding).

The first trained target (UPOS when present) is the sequence the decoder emits and feeds back; ``<EOS>`` is one
more of its labels. The other targets (XPOS, FEATS) are read off the same decoder state at each step.

Decoding is beam search with ``beam_size`` hypotheses (1 = greedy). With ``constrain_length`` (the default) a
hypothesis must emit exactly one tag per word and then ``<EOS>``; without it ``<EOS>`` may come early or late
(at most ``2 * n + 5`` steps), and words left without a tag get id -1, which the tagger writes as ``_`` and the
evaluation counts as wrong. Both are decoding settings: they can be changed on a trained model.
"""

from __future__ import annotations

import functools
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..batching import Batch
from ..registry import registry
from ..vocab import IGNORE_INDEX
from .base import NeuralTagger, run_packed
from .embedding import WordCharEmbedding

#: Id written for a word that unconstrained decoding left without a tag.
MISSING = -1


def reverse_padded(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's first ``length`` steps: (B, T, ...) -> (B, T, ...), padding stays at the end."""
    steps = torch.arange(inputs.shape[1], device=inputs.device)
    lengths = lengths.to(inputs.device)
    index = (lengths[:, None] - 1 - steps[None, :]).clamp(min=0)
    index = torch.where(steps[None, :] < lengths[:, None], index, steps[None, :])
    return inputs.gather(1, index.view(*index.shape, *([1] * (inputs.dim() - 2))).expand_as(inputs))


class Seq2SeqTagger(NeuralTagger):
    """Encoder-decoder tagger with optional attention and beam-search decoding.

    Args:
        n_words: word vocabulary size.
        n_chars: character vocabulary size.
        n_labels: number of labels per trained target; the first is the decoded sequence.
        word_dim: word embedding size.
        char_dim: character embedding size.
        char_hidden: character encoder size (see :class:`WordCharEmbedding`).
        char_encoder: "lstm" or "cnn".
        hidden: encoder and decoder state size.
        layers: layers of the encoder and of the decoder.
        tag_dim: size of the embedding of the previous tag fed to the decoder.
        dropout: dropout on the inputs and on the decoder output.
        reverse_input: encode the words last to first.
        attention: let the decoder attend over the encoder states.
        beam_size: hypotheses kept while decoding (1 = greedy).
        constrain_length: decode exactly one tag per word.
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
        hidden: int = 512,
        layers: int = 2,
        tag_dim: int = 64,
        dropout: float = 0.33,
        reverse_input: bool = True,
        attention: bool = False,
        beam_size: int = 4,
        constrain_length: bool = True,
    ) -> None:
        super().__init__(n_labels=n_labels)
        self.primary = next(iter(n_labels))
        self.eos = n_labels[self.primary]  # <EOS> is one more label of the primary target
        self.bos = self.eos + 1  # only ever an input
        self.reverse_input = reverse_input
        self.attention = attention
        self.beam_size = beam_size
        self.constrain_length = constrain_length
        self.hidden = hidden
        self.embedding = WordCharEmbedding(
            n_words=n_words,
            n_chars=n_chars,
            word_dim=word_dim,
            char_dim=char_dim,
            char_hidden=char_hidden,
            char_encoder=char_encoder,
        )
        self.dropout = nn.Dropout(dropout)
        lstm_dropout = dropout if layers > 1 else 0.0
        self.encoder = nn.LSTM(self.embedding.output_dim, hidden, num_layers=layers, batch_first=True, dropout=lstm_dropout)
        self.tag_embedding = nn.Embedding(self.bos + 1, tag_dim)
        decoder_input = tag_dim + (hidden if attention else 0)
        self.decoder = nn.LSTM(decoder_input, hidden, num_layers=layers, batch_first=True, dropout=lstm_dropout)
        if attention:
            self.attention_score = nn.Linear(hidden, hidden, bias=False)
            self.attention_combine = nn.Linear(2 * hidden, hidden)
        heads = {target: nn.Linear(hidden, n) for target, n in n_labels.items()}
        heads[self.primary] = nn.Linear(hidden, self.eos + 1)
        self.heads = nn.ModuleDict(heads)

    # -- the pieces -------------------------------------------------------------------------------------------------

    def encode(self, batch: Batch) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Encoder states (B, T, H) in input order and the final (h, c), each (layers, B, H)."""
        inputs = self.dropout(self.embedding(batch))
        if self.reverse_input:
            inputs = reverse_padded(inputs, batch.lengths)
        return run_packed(self.encoder, inputs, batch.lengths)

    def step(
        self,
        previous: torch.Tensor,
        state: Tuple[torch.Tensor, torch.Tensor],
        feed: Optional[torch.Tensor],
        memory: Optional[torch.Tensor],
        memory_mask: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """One decoder step: previous tags (N,) -> output (N, H) and the new state; ``feed`` is the last output."""
        inputs = self.tag_embedding(previous)
        if self.attention:
            inputs = torch.cat([inputs, feed], dim=-1)
        out, state = self.decoder(inputs.unsqueeze(1), state)
        out = out.squeeze(1)  # (N, H)
        if self.attention:
            scores = torch.einsum("nh,nth->nt", self.attention_score(out), memory)
            weights = scores.masked_fill(~memory_mask, float("-inf")).softmax(-1)
            context = torch.einsum("nt,nth->nh", weights, memory)
            out = torch.tanh(self.attention_combine(torch.cat([context, out], dim=-1)))
        return out, state

    def _memory(self, states: torch.Tensor, lengths: torch.Tensor):
        if not self.attention:
            return None, None
        mask = torch.arange(states.shape[1], device=states.device)[None, :] < lengths.to(states.device)[:, None]
        return states, mask

    # -- training -------------------------------------------------------------------------------------------------

    def forward(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """Teacher-forced logits, each (B, T + 1, n); the primary target's last class is ``<EOS>``.

        Needs ``batch.targets``: step t is fed the gold primary tag of word t - 1 (``<BOS>`` first).
        """
        states, final = self.encode(batch)
        memory, mask = self._memory(states, batch.lengths)
        gold = batch.targets[self.primary]  # (B, T), IGNORE_INDEX beyond the end or where unannotated
        n, t_max = gold.shape
        previous = torch.full((n,), self.bos, dtype=torch.long, device=gold.device)
        feed = states.new_zeros(n, self.hidden) if self.attention else None
        state = final
        outputs = []
        for t in range(t_max + 1):
            out, state = self.step(previous, state, feed, memory, mask)
            outputs.append(out)
            feed = out
            if t < t_max:
                # an unannotated gold tag is fed back as <BOS>, the one input that says nothing about a tag
                previous = torch.where(gold[:, t] >= 0, gold[:, t], torch.full_like(gold[:, t], self.bos))
        hidden = self.dropout(torch.stack(outputs, dim=1))  # (B, T + 1, H)
        return {target: head(hidden) for target, head in self.heads.items()}

    def loss(self, batch: Batch) -> torch.Tensor:
        """Cross-entropy of every target; the primary one also learns to emit ``<EOS>`` after the last word."""
        logits = self(batch)
        total = logits[self.primary].new_zeros(())
        lengths = batch.lengths.to(logits[self.primary].device)
        for target, scores in logits.items():
            gold = batch.targets[target]
            padded = F.pad(gold, (0, 1), value=IGNORE_INDEX)  # (B, T + 1)
            if target == self.primary:
                padded = padded.scatter(1, lengths[:, None], self.eos)
            if bool((padded != IGNORE_INDEX).any()):
                total = total + F.cross_entropy(scores.flatten(0, 1), padded.flatten(), ignore_index=IGNORE_INDEX)
        return total

    # -- decoding -------------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def predict(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """Beam-search tags for every sentence: each target (B, T), ``MISSING`` where no tag was emitted."""
        self.eval()
        states, final = self.encode(batch)
        t_max = states.shape[1]
        result = {target: torch.full((len(batch.lengths), t_max), MISSING, dtype=torch.long) for target in self.heads}
        for i, length in enumerate(batch.lengths.tolist()):
            one_state = (final[0][:, i : i + 1].contiguous(), final[1][:, i : i + 1].contiguous())
            tags, _ = self.decode(states[i : i + 1, :length], one_state, length)
            for target, ids in tags.items():
                kept = ids[:length]
                result[target][i, : len(kept)] = torch.tensor(kept, dtype=torch.long)
        return result

    def decode(
        self, states: torch.Tensor, final: Tuple[torch.Tensor, torch.Tensor], length: int
    ) -> Tuple[Dict[str, List[int]], float]:
        """Beam search with ``beam_size``, never worse than greedy under the model.

        Plain beam search can prune the greedy path and end below it; the greedy result is kept as a candidate
        so that a wider beam can only help.
        """
        best = self.beam_search(states, final, length, self.beam_size)
        if self.beam_size > 1:
            greedy = self.beam_search(states, final, length, 1)
            if greedy[1] > best[1]:
                best = greedy
        return best

    def beam_search(
        self,
        states: torch.Tensor,
        final: Tuple[torch.Tensor, torch.Tensor],
        length: int,
        beam_size: int,
    ) -> Tuple[Dict[str, List[int]], float]:
        """Decode one sentence: encoder states (1, n, H) and final state -> tags per target and the log-probability
        of the primary sequence (``<EOS>`` included) under the model."""
        max_steps = length + 1 if self.constrain_length else 2 * length + 5
        memory = states if self.attention else None
        mask = torch.ones(1, states.shape[1], dtype=torch.bool, device=states.device) if self.attention else None
        # each hypothesis: (log-prob, primary tags, other targets' tags, decoder state, feed)
        feed = states.new_zeros(1, self.hidden) if self.attention else None
        beams = [(0.0, [], {t: [] for t in self.heads if t != self.primary}, final, feed)]
        finished: List[Tuple[float, List[int], Dict[str, List[int]]]] = []
        for t in range(max_steps):
            if not beams:
                break
            previous = torch.tensor([b[1][-1] if b[1] else self.bos for b in beams], device=states.device)
            state = (torch.cat([b[3][0] for b in beams], dim=1), torch.cat([b[3][1] for b in beams], dim=1))
            feeds = torch.cat([b[4] for b in beams]) if self.attention else None
            k = len(beams)
            out, new_state = self.step(
                previous, state, feeds,
                memory.expand(k, -1, -1) if self.attention else None,
                mask.expand(k, -1) if self.attention else None,
            )
            log_probs = self.heads[self.primary](out).log_softmax(-1)  # (k, n_primary + 1)
            if self.constrain_length:
                # before the last word <EOS> is impossible; after it, only <EOS> is
                allowed = torch.full_like(log_probs, float("-inf"))
                if t < length:
                    allowed[:, : self.eos] = 0.0
                else:
                    allowed[:, self.eos] = 0.0
                log_probs = log_probs + allowed
            others = {target: self.heads[target](out).argmax(-1).tolist() for target in beams[0][2]}
            totals = torch.tensor([b[0] for b in beams], device=log_probs.device)[:, None] + log_probs
            flat = totals.flatten()
            top = torch.topk(flat, min(beam_size, int(torch.isfinite(flat).sum())))
            candidates = []
            for score, index in zip(top.values.tolist(), top.indices.tolist()):
                row, tag = divmod(index, log_probs.shape[1])
                _, tags, other_tags, _, _ = beams[row]
                extended = {target: other_tags[target] + [others[target][row]] for target in other_tags}
                if tag == self.eos:
                    finished.append((score, tags, other_tags))
                else:
                    hyp_state = (new_state[0][:, row : row + 1], new_state[1][:, row : row + 1])
                    candidates.append((score, tags + [tag], extended, hyp_state, out[row : row + 1]))
            # a finished hypothesis beats every live one that scores lower: they can only lose probability
            best_finished = max((f[0] for f in finished), default=float("-inf"))
            beams = [c for c in candidates if c[0] > best_finished][:beam_size]
        if not finished:  # unconstrained decoding that never emitted <EOS>: keep the best live hypothesis
            finished = [(b[0], b[1], b[2]) for b in beams]
        score, tags, other_tags = max(finished, key=lambda f: f[0])
        return {self.primary: tags, **other_tags}, score

    @torch.inference_mode()
    def sequence_log_prob(self, batch: Batch) -> float:
        """log P(primary tags + ``<EOS>`` | words) of a one-sentence batch's gold tags (for testing the search)."""
        self.eval()
        logits = self(batch)[self.primary][0].log_softmax(-1)  # (T + 1, n + 1)
        gold = batch.targets[self.primary][0].tolist() + [self.eos]
        return float(sum(logits[t, g] for t, g in enumerate(gold)))


@registry.architectures("bilstm_tagger.Seq2Seq.v1")
def build_seq2seq_tagger(
    *,
    word_dim: int = 128,
    char_dim: int = 64,
    char_hidden: int = 128,
    char_encoder: str = "lstm",
    hidden: int = 512,
    layers: int = 2,
    tag_dim: int = 64,
    dropout: float = 0.33,
    reverse_input: bool = True,
    attention: bool = False,
    beam_size: int = 4,
    constrain_length: bool = True,
) -> Callable[..., Seq2SeqTagger]:
    """Config builder for :class:`Seq2SeqTagger`."""
    return functools.partial(
        Seq2SeqTagger,
        word_dim=word_dim,
        char_dim=char_dim,
        char_hidden=char_hidden,
        char_encoder=char_encoder,
        hidden=hidden,
        layers=layers,
        tag_dim=tag_dim,
        dropout=dropout,
        reverse_input=reverse_input,
        attention=attention,
        beam_size=beam_size,
        constrain_length=constrain_length,
    )
