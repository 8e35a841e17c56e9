"""Consistent tags: UPOS chosen with the other heads among the (UPOS, tag) pairs of training; the pairs saved in the
vocabularies; the option that turns it off, and its errors."""

from __future__ import annotations

import random

import pytest
import torch

from bilstm_tagger import InferenceOptions, load_model, read_conllu
from bilstm_tagger.cli import _inference_options, build_parser
from bilstm_tagger.inference.options import OptionError
from bilstm_tagger.inference.tagger import Tagger
from bilstm_tagger.models.tag_pairs import TOP_K, TagPairs
from bilstm_tagger.serialization import read_model
from bilstm_tagger.vocab import Vocabularies

from .conftest import train_tiny

LABELS = {"upos": ["NOUN", "PROPN", "VERB"], "xpos": ["NN", "NNP", "VB"], "feats": ["Number=Sing", "_"]}
PAIRS = {"xpos": [["NOUN", "NN"], ["PROPN", "NNP"], ["VERB", "VB"]], "feats": [["NOUN", "Number=Sing"]]}


def logits(probabilities):
    """(1, 1, n) logits whose softmax is ``probabilities``."""
    return torch.tensor(probabilities).log().view(1, 1, -1)


def choose(pairs: TagPairs, scores: dict) -> dict:
    return pairs.choose(scores, {target: s.argmax(-1) for target, s in scores.items()})


def test_the_other_heads_evidence_changes_upos():
    pairs = TagPairs(LABELS, {"xpos": PAIRS["xpos"]}, torch.device("cpu"))
    # UPOS leans to NOUN, XPOS is sure of NNP: on their own, NOUN + NNP, a pair training never had
    scores = {"upos": logits([0.55, 0.45, 0.0001]), "xpos": logits([0.05, 0.9, 0.05])}
    assert scores["upos"].argmax(-1).item() == 0 and scores["xpos"].argmax(-1).item() == 1
    chosen = choose(pairs, scores)
    assert chosen["upos"].item() == 1 and chosen["xpos"].item() == 1  # PROPN + NNP


def test_every_paired_head_has_a_say_and_unpaired_targets_are_left_alone():
    pairs = TagPairs(LABELS, PAIRS, torch.device("cpu"))
    # XPOS alone would make it PROPN, but the only FEATS that fits a training pair goes with NOUN, and is sure
    scores = {
        "upos": logits([0.5, 0.5, 0.0001]),
        "xpos": logits([0.4, 0.5, 0.1]),
        "feats": logits([0.99, 0.01]),
        "other": logits([0.3, 0.7]),
    }
    chosen = choose(pairs, scores)
    assert set(chosen) == {"upos", "xpos", "feats"}
    assert (chosen["upos"].item(), chosen["xpos"].item(), chosen["feats"].item()) == (0, 0, 0)


def test_a_word_with_no_searched_pair_keeps_each_heads_choice():
    labels = {"upos": ["NOUN", "VERB"], "xpos": [f"X{i}" for i in range(TOP_K + 1)]}
    # the only pair of training has the XPOS each word ranks last, outside the searched top-K
    pairs = TagPairs(labels, {"xpos": [["VERB", f"X{TOP_K}"]]}, torch.device("cpu"))
    scores = {"upos": logits([0.6, 0.4]), "xpos": logits([0.3, 0.25, 0.2, 0.15, 0.1])}
    chosen = choose(pairs, scores)
    assert chosen["upos"].item() == 0 and chosen["xpos"].item() == 0


def test_a_batch_is_chosen_word_by_word():
    pairs = TagPairs(LABELS, PAIRS, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    scores = {t: torch.randn(3, 5, len(LABELS[t]), generator=generator) for t in LABELS}
    together = choose(pairs, scores)
    for b in range(3):
        for t in range(5):
            alone = choose(pairs, {name: s[b : b + 1, t : t + 1] for name, s in scores.items()})
            assert {name: ids[b, t].item() for name, ids in together.items()} == {
                name: ids.item() for name, ids in alone.items()
            }


def test_vocabularies_record_the_pairs_of_training_and_read_old_ones_without(tiny_data):
    vocabs = Vocabularies.build(read_conllu(tiny_data), targets=["upos", "xpos", "feats"])
    xpos = {tuple(pair) for pair in vocabs.tag_pairs["xpos"]}
    assert ("NOUN", "NNS") in xpos and ("PRON", "PRP") in xpos and ("NOUN", "PRP") not in xpos
    # "Dogs" has no XPOS: no pair for it
    assert all(None not in pair for pair in xpos)
    assert ["PUNCT", "_"] in vocabs.tag_pairs["feats"]
    assert Vocabularies.from_dict(vocabs.to_dict()).tag_pairs == vocabs.tag_pairs
    old = vocabs.to_dict()
    del old["tag_pairs"]
    assert Vocabularies.from_dict(old).tag_pairs == {}
    assert Vocabularies.build(read_conllu(tiny_data), targets=["xpos", "feats"]).tag_pairs == {}


def test_a_trained_model_only_predicts_pairs_seen_in_training(tiny_model):
    tagger = load_model(tiny_model)
    assert tagger.vocabs.tag_pairs.keys() == {"xpos", "feats"}
    rng = random.Random(0)
    words = ["cats", "Dogs", "sleeps", "the", "I", "xyzzy", "Bark", "loudly", ".", "don't", "Ünïcode", "42"]
    sentences = [[rng.choice(words) for _ in range(rng.randint(1, 12))] for _ in range(200)]
    seen = {target: {tuple(pair) for pair in pairs} for target, pairs in tagger.vocabs.tag_pairs.items()}
    for tags in tagger.tag(sentences):
        for target in ("xpos", "feats"):
            assert set(zip(tags["upos"], tags[target])) <= seen[target]


def test_independent_tags_are_each_heads_argmax(tiny_model):
    tagger = load_model(tiny_model, InferenceOptions(consistent_tags=False))
    assert "tag_pairs" not in tagger.runtime.decoding
    sentences = [["Dogs", "sleeps", "xyzzy", "."], ["I", "like", "42"]]
    batch = tagger.runtime.cache.make_batch(sentences)
    with torch.inference_mode():
        argmax = {t: s.argmax(-1) for t, s in tagger.runtime.model(batch).items()}
    for row, ids in enumerate(tagger.tag_ids(sentences)):
        for target, labels in ids.items():
            assert labels == argmax[target][row, : len(sentences[row])].tolist()


def test_a_factored_feats_head_is_not_paired(tiny_path, tmp_path):
    out = train_tiny(tmp_path / "m", tiny_path, **{"model.feats_head": "factored"})
    sentences = [s.forms for s in read_conllu(tiny_path)] + [["xyzzy", "cats", "bark"]]
    consistent = load_model(out)
    assert "tag_pairs" in consistent.runtime.decoding
    independent = load_model(out, InferenceOptions(consistent_tags=False))
    assert [t["feats"] for t in consistent.tag(sentences)] == [t["feats"] for t in independent.tag(sentences)]


def test_asking_for_consistent_tags_from_a_model_without_pairs_is_an_error(tiny_model):
    trained = read_model(tiny_model)
    trained.vocabs.tag_pairs = {}  # as in a directory written before the pairs were saved
    with pytest.raises(OptionError, match="records no \\(UPOS, tag\\) pairs"):
        Tagger(trained, InferenceOptions(consistent_tags=True))
    assert "tag_pairs" not in Tagger(trained).runtime.decoding  # unset: each head on its own


def test_the_cli_flag_turns_it_off():
    parser = build_parser()
    assert _inference_options(parser.parse_args(["evaluate", "m", "t"])).consistent_tags is None
    args = parser.parse_args(["evaluate", "m", "t", "--independent-tags"])
    assert _inference_options(args).consistent_tags is False
