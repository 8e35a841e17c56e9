"""Beam search of the seq2seq tagger: beam 1 is greedy, wider beams never score lower, the length constraint."""

from __future__ import annotations

import pytest
import torch

from bilstm_tagger import read_conllu
from bilstm_tagger.models.batching import make_batch
from bilstm_tagger.models.neural import reverse_padded
from bilstm_tagger.models.seq2seq import MISSING, Seq2SeqTagger
from bilstm_tagger.vocab import Vocabularies

SENTENCES = [["I", "like", "cats", "."], ["Dogs", "bark"], ["The", "cat", "sleeps", "loudly", "."], ["x"]]


def _model(vocabs, **settings) -> Seq2SeqTagger:
    torch.manual_seed(3)
    model = Seq2SeqTagger(
        n_words=len(vocabs.words), n_chars=len(vocabs.chars),
        n_labels={t: len(v) for t, v in vocabs.labels.items()},
        word_dim=8, char_dim=4, char_hidden=4, hidden=16, layers=2, tag_dim=4, dropout=0.0, **settings,
    )
    # sharper, more varied output distributions than at initialisation, so that search choices matter
    with torch.no_grad():
        model.heads["upos"].weight.mul_(8.0)
    return model.eval()


@pytest.fixture
def vocabs(tiny_path):
    return Vocabularies.build(read_conllu(tiny_path))


def _encode(model, vocabs, forms):
    batch = make_batch([forms], vocabs)
    states, final = model.encode(batch)
    return states, final


def _greedy(model, vocabs, forms):
    """Reference greedy decoder: the best allowed tag at every step, fed back."""
    states, (h, c) = _encode(model, vocabs, forms)
    previous = torch.tensor([model.bos])
    feed = states.new_zeros(1, model.hidden) if model.attention else None
    mask = torch.ones(1, len(forms), dtype=torch.bool)
    tags, total = [], 0.0
    state = (h, c)
    for t in range(len(forms) + 1):
        out, state = model.step(previous, state, feed, states if model.attention else None, mask if model.attention else None)
        log_probs = model.heads["upos"](out).log_softmax(-1)[0]
        tag = int(log_probs[: model.eos].argmax()) if t < len(forms) else model.eos
        total += float(log_probs[tag])
        if tag == model.eos:
            break
        tags.append(tag)
        previous, feed = torch.tensor([tag]), out
    return tags, total


DECODERS = [{"attention": False}, {"attention": True}, {"attention": True, "input_feeding": True}]
DECODER_IDS = ["plain", "attention", "attention-input-feeding"]


@pytest.mark.parametrize("decoder", DECODERS, ids=DECODER_IDS)
def test_seq2seq_beam_1_is_greedy(vocabs, decoder):
    model = _model(vocabs, beam_size=1, **decoder)
    with torch.inference_mode():
        for forms in SENTENCES:
            states, final = _encode(model, vocabs, forms)
            tags, score = model.beam_search(states, final, torch.tensor([len(forms)]), 1)
            expected_tags, expected_score = _greedy(model, vocabs, forms)
            assert tags["upos"][0].tolist() == expected_tags
            assert float(score[0]) == pytest.approx(expected_score, abs=1e-4)


@pytest.mark.parametrize("decoder", DECODERS, ids=DECODER_IDS)
def test_seq2seq_wider_beam_never_scores_lower_and_scores_are_real(vocabs, decoder):
    model = _model(vocabs, beam_size=4, **decoder)
    with torch.inference_mode():
        for forms in SENTENCES:
            states, final = _encode(model, vocabs, forms)
            lengths = torch.tensor([len(forms)])
            _, greedy_score = model.beam_search(states, final, lengths, 1)
            tags, score = model.decode(states, final, lengths)
            assert float(score[0]) >= float(greedy_score[0]) - 1e-6
            # the reported score is the model's log-probability of that tag sequence (teacher-forced)
            sentence = read_conllu_like(forms, tags["upos"][0].tolist(), vocabs)
            batch = make_batch([forms], vocabs, labels=[sentence])
            assert model.sequence_log_prob(batch) == pytest.approx(float(score[0]), abs=1e-4)


def read_conllu_like(forms, tag_ids, vocabs):
    from bilstm_tagger.corpus import sentences_from_forms

    (sentence,) = sentences_from_forms([forms])
    for word, tag in zip(sentence.words, tag_ids):
        word.upos = vocabs.labels["upos"][tag]
    return sentence


def test_seq2seq_length_constraint_holds(vocabs):
    model = _model(vocabs, beam_size=3, constrain_length=True)
    batch = make_batch(SENTENCES, vocabs)
    predicted = model.predict(batch)
    for row, forms in enumerate(SENTENCES):
        for target, ids in predicted.items():
            assert (ids[row, : len(forms)] >= 0).all(), target


def test_seq2seq_unconstrained_lengths_are_marked_missing(vocabs):
    model = _model(vocabs, beam_size=2, constrain_length=False)
    with torch.no_grad():  # make <EOS> the favourite output: decoding stops at once
        model.heads["upos"].bias[model.eos] = 100.0
    predicted = model.predict(make_batch(SENTENCES, vocabs))
    assert (predicted["upos"][0, :4] == MISSING).all()


def test_seq2seq_reverse_padded():
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]).unsqueeze(-1)
    out = reverse_padded(x, torch.tensor([3, 2])).squeeze(-1)
    assert out.tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]


@pytest.mark.parametrize("decoder", DECODERS, ids=DECODER_IDS)
@pytest.mark.parametrize("constrain_length", [True, False])
def test_seq2seq_batched_search_equals_one_sentence_at_a_time(vocabs, decoder, constrain_length):
    model = _model(vocabs, beam_size=3, constrain_length=constrain_length, **decoder)
    together = model.predict(make_batch(SENTENCES, vocabs))
    for row, forms in enumerate(SENTENCES):
        alone = model.predict(make_batch([forms], vocabs))
        for target, ids in alone.items():
            assert together[target][row, : len(forms)].tolist() == ids[0].tolist(), (forms, target)


def test_seq2seq_beam_as_wide_as_every_sequence_is_exact_search(vocabs):
    """With K >= (number of tags)^n the beam keeps every sequence, so it must find the model's best one."""
    import itertools

    forms = ["Dogs", "bark"]
    n_tags = len(vocabs.labels["upos"])
    model = _model(vocabs, beam_size=n_tags ** len(forms))
    with torch.inference_mode():
        states, final = _encode(model, vocabs, forms)
        tags, score = model.beam_search(states, final, torch.tensor([len(forms)]), model.beam_size)
        best = max(
            (model.sequence_log_prob(make_batch([forms], vocabs, labels=[read_conllu_like(forms, seq, vocabs)])), seq)
            for seq in itertools.product(range(n_tags), repeat=len(forms))
        )
    assert float(score[0]) == pytest.approx(best[0], abs=1e-4)
    assert tuple(tags["upos"][0].tolist()) == best[1]
