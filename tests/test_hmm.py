"""The HMM's own behaviour: Viterbi is exact, interpolation weights are distributions, unknown words, its state."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bilstm_tagger import read_conllu
from bilstm_tagger.models.hmm import HMM, HMMTagger, decode_strings, encode_strings
from bilstm_tagger.vocab import Vocabularies


LABELS = sorted("DET NOUN PRON AUX PART VERB PUNCT ADV".split())


def _pairs(sentences):
    return [[(w.form, LABELS.index(w.upos)) for w in s.words] for s in sentences]


@pytest.fixture
def fitted(tiny_path):
    sentences = read_conllu(tiny_path)
    # unknown_beam 0: exact Viterbi, which the brute-force test checks
    return {k: HMM(n_labels=len(LABELS), order=k, unknown_beam=0).fit(_pairs(sentences)) for k in (1, 2, 3)}, sentences


def _sequence_score(hmm: HMM, forms, tags) -> float:
    k, width = hmm.order, hmm.n_labels + 1
    table = hmm.log_transition.reshape((width,) * (k + 1))
    history = [hmm.start] * k
    total = 0.0
    for form, tag in zip(forms, tags):
        total += table[tuple(history) + (tag,)] + hmm.emission_scores(form)[tag]
        history = history[1:] + [tag]
    return total + table[tuple(history) + (hmm.start,)]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_hmm_viterbi_equals_brute_force(fitted, order):
    models, _ = fitted
    hmm = models[order]
    forms = ["Dogs", "like", "unseenword", "."]
    best = max(
        itertools.product(range(hmm.n_labels), repeat=len(forms)),
        key=lambda tags: _sequence_score(hmm, forms, tags),
    )
    assert hmm.viterbi(forms) == list(best)


def test_hmm_unknown_beam_prunes_only_unknown_words(fitted):
    models, _ = fitted
    hmm = models[2]
    pruned = HMM(n_labels=hmm.n_labels, order=2, unknown_beam=1.0)
    pruned.load_arrays(hmm.to_arrays())
    for form in ["unseenword", "Dogs", "like", "."]:
        scores = hmm.emission_scores(form)
        exact, _, _ = hmm.allowed_tags(form)
        kept, kept_scores, _ = pruned.allowed_tags(form)
        if hmm._is_known(form):
            assert kept.tolist() == exact.tolist()
        else:
            assert set(kept.tolist()) == {t for t in exact.tolist() if scores[t] >= scores.max() - 1.0}
            assert len(kept) < len(exact)
        assert kept_scores.tolist() == scores[kept].tolist()


def test_hmm_tags_training_data(fitted):
    models, sentences = fitted
    hmm = models[2]
    for sentence in sentences:
        assert [LABELS[i] for i in hmm.viterbi(sentence.forms)] == [w.upos for w in sentence.words]


def test_hmm_interpolation_weights_and_rows_are_distributions(fitted):
    models, _ = fitted
    for hmm in models.values():
        assert hmm.lambdas.sum() == pytest.approx(1.0) and (hmm.lambdas >= 0).all()
        rows = np.exp(hmm.log_transition).sum(axis=1)
        # every history seen in training has a proper next-tag distribution (including the end)
        assert np.allclose(rows[rows > 0], 1.0)


def test_hmm_unknown_words_use_suffixes(fitted):
    hmm = fitted[0][2]
    # "-s" ends plural nouns and 3sg verbs in the tiny data: an unseen "-s" word prefers those tags
    scores = hmm.emission_scores("giraffes")
    best = LABELS[int(np.argmax(scores))]
    assert best in ("NOUN", "VERB")
    assert hmm.viterbi([]) == []


def test_hmm_capitalised_unknown_falls_back_to_lower_case(fitted):
    hmm = fitted[0][2]
    assert np.array_equal(hmm.emission_scores("Cats"), hmm.emission_scores("cats"))


def test_hmm_state_round_trip(fitted):
    hmm = fitted[0][2]
    copy = HMM(n_labels=hmm.n_labels, order=2)
    copy.load_arrays(hmm.to_arrays())
    for forms in (["Dogs", "like", "unseenword", "."], ["Zebras", "sleep"]):
        assert copy.viterbi(forms) == hmm.viterbi(forms)
    with pytest.raises(ValueError, match="does not fit order 1"):
        HMM(n_labels=hmm.n_labels, order=1).load_arrays(hmm.to_arrays())


def test_hmm_strings_as_code_points():
    strings = ["", "naïve", "日本", "a"]
    assert decode_strings(*encode_strings(strings)) == strings


def _taggers(tiny_path):
    sentences = read_conllu(tiny_path)
    vocabs = Vocabularies.build(sentences)
    n_labels = {target: len(labels) for target, labels in vocabs.labels.items()}
    joint = HMMTagger(n_labels=n_labels, joint=True).fit(sentences, vocabs.labels)
    separate = HMMTagger(n_labels=n_labels, joint=False).fit(sentences, vocabs.labels)
    return sentences, vocabs, joint, separate


def test_hmm_joint_tags_are_combinations_seen_in_training(tiny_path):
    sentences, vocabs, joint, _ = _taggers(tiny_path)
    targets = list(vocabs.labels)
    seen = {tuple(getattr(w, t) for t in targets) for s in sentences for w in s.words}
    seen = {combination for combination in seen if None not in combination}  # "Dogs" has no XPOS: not counted
    assert len(joint.combinations) == len(seen)
    for ids in joint.tag_ids([["Zebras", "like", "the", "unseenword", "."], ["The", "cat", "sleeps"]]):
        predicted = zip(*(ids[t] for t in targets))
        assert all(tuple(vocabs.labels[t][i] for t, i in zip(targets, row)) in seen for row in predicted)


def test_hmm_joint_and_per_target_state_round_trip(tiny_path):
    sentences, vocabs, joint, separate = _taggers(tiny_path)
    n_labels = {target: len(labels) for target, labels in vocabs.labels.items()}
    forms = [["Dogs", "like", "unseenword", "."], ["Zebras", "sleep"]]
    for tagger in (joint, separate):
        copy = HMMTagger(n_labels=n_labels, joint=tagger.joint)
        copy.load_arrays(tagger.to_arrays())
        assert copy.tag_ids(forms) == tagger.tag_ids(forms)
    with pytest.raises(ValueError, match="expects"):
        HMMTagger(n_labels=n_labels, joint=False).load_arrays(joint.to_arrays())


def test_hmm_refuses_an_oversized_transition_table():
    with pytest.raises(ValueError, match="transition table of .* entries"):
        HMM(n_labels=500, order=2).fit([[("a", 0)]])
