"""Beam search of the seq2seq tagger: beam 1 is greedy, wider beams never score lower, the length constraint."""

from __future__ import annotations

import pytest
import torch

from bilstm_tagger import read_conllu
from bilstm_tagger.batching import make_batch
from bilstm_tagger.models.seq2seq import MISSING, Seq2SeqTagger, reverse_padded
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


@pytest.mark.parametrize("attention", [False, True])
def test_seq2seq_beam_1_is_greedy(vocabs, attention):
    model = _model(vocabs, attention=attention, beam_size=1)
    with torch.inference_mode():
        for forms in SENTENCES:
            states, final = _encode(model, vocabs, forms)
            tags, score = model.beam_search(states, final, len(forms), 1)
            expected_tags, expected_score = _greedy(model, vocabs, forms)
            assert tags["upos"] == expected_tags
            assert score == pytest.approx(expected_score, abs=1e-4)


@pytest.mark.parametrize("attention", [False, True])
def test_seq2seq_wider_beam_never_scores_lower_and_scores_are_real(vocabs, attention):
    model = _model(vocabs, attention=attention, beam_size=4)
    with torch.inference_mode():
        for forms in SENTENCES:
            states, final = _encode(model, vocabs, forms)
            greedy_tags, greedy_score = model.beam_search(states, final, len(forms), 1)
            tags, score = model.decode(states, final, len(forms))
            assert score >= greedy_score - 1e-6
            # the reported score is the model's log-probability of that tag sequence (teacher-forced)
            sentence = read_conllu_like(forms, tags["upos"], vocabs)
            batch = make_batch([forms], vocabs, labels=[sentence])
            assert model.sequence_log_prob(batch) == pytest.approx(score, abs=1e-4)


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
