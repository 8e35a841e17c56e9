"""The lemmatizer and the factored FEATS head: overfitting, beam search against greedy, unseen bundles, lemmas
through training, the model directory, spaCy and the official evaluator."""

from __future__ import annotations

import inspect
import json

import pytest
import torch

from bilstm_tagger import ModelDirError, load_model, read_conllu
from bilstm_tagger.corpus import Sentence, Word
from bilstm_tagger.errors import ConfigError
from bilstm_tagger.evaluation.scoring import score
from bilstm_tagger.inference.lemmatization import Lemmatization
from bilstm_tagger.models.factored_feats import FactoredFeatsHead, feature_inventory
from bilstm_tagger.models.lemmatizer import STEP_ROWS, CharLemmatizer, edit_of, make_lemma_batch
from bilstm_tagger.registry import registry
from bilstm_tagger.serialization import LEMMATIZER_FILE, TrainedLemmatizer
from bilstm_tagger.vocab import IGNORE_INDEX, LemmaVocabularies

from .conftest import train_tiny

PAIRS = [
    ("walked", "VERB", "walk"), ("talked", "VERB", "talk"), ("cats", "NOUN", "cat"), ("dogs", "NOUN", "dog"),
    ("Went", "VERB", "go"), ("better", "ADJ", "good"), ("houses", "NOUN", "house"), ("The", "DET", "the"),
]


def _sentences(pairs):
    words = [Word(id=i + 1, form=f, upos=u, xpos=None, feats="_", lemma=l) for i, (f, u, l) in enumerate(pairs)]
    return [Sentence(words=words)]


def _overfit(pairs, steps=300):
    torch.manual_seed(0)
    vocabs = LemmaVocabularies.build(_sentences(pairs))
    model = CharLemmatizer.from_vocabs(vocabs, char_dim=16, upos_dim=4, hidden=32, dropout=0.0, beam_size=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    batch = make_lemma_batch([f for f, _, _ in pairs], [u for _, u, _ in pairs], vocabs, lemmas=[l for _, _, l in pairs])
    for _ in range(steps):
        optimizer.zero_grad()
        model.train()
        model.loss(batch).backward()
        optimizer.step()
    return vocabs, model


def test_lemma_vocabularies_dictionary_takes_the_most_frequent_lemma():
    vocabs = LemmaVocabularies.build(_sentences([("saw", "VERB", "see"), ("saw", "VERB", "see"), ("saw", "VERB", "saw"),
                                                 ("saw", "NOUN", "saw"), ("x", None, "x")]))
    assert vocabs.dictionary == {("saw", "VERB"): "see", ("saw", "NOUN"): "saw"}
    assert vocabs.upos == ["NOUN", "VERB"]
    assert LemmaVocabularies.from_dict(json.loads(json.dumps(vocabs.to_dict()))).dictionary == vocabs.dictionary


def test_feats_choose_the_lemma_where_they_change_it():
    """EWT's "her": "she" as an object, "her" as a possessive; only the exception is kept by FEATS."""
    words = [("her", "PRON", "Case=Acc", "she")] * 3 + [("her", "PRON", "Poss=Yes", "her")] * 2 + [
        ("cats", "NOUN", "Number=Plur", "cat")]
    sentence = Sentence(words=[Word(id=i + 1, form=f, upos=u, xpos=None, feats=x, lemma=l)
                               for i, (f, u, x, l) in enumerate(words)])
    vocabs = LemmaVocabularies.build([sentence])
    assert vocabs.dictionary[("her", "PRON")] == "she"
    assert vocabs.feats_dictionary == {("her", "PRON", "Poss=Yes"): "her"}
    copy = LemmaVocabularies.from_dict(json.loads(json.dumps(vocabs.to_dict())))
    assert copy.feats_dictionary == vocabs.feats_dictionary
    old = vocabs.to_dict()
    del old["feats_dictionary"]  # lemmatizer.json written before it existed
    assert LemmaVocabularies.from_dict(old).feats_dictionary == {}
    model = CharLemmatizer.from_vocabs(vocabs, char_dim=8, upos_dim=4, hidden=8, dropout=0.0, beam_size=1)
    lemmatization = Lemmatization(TrainedLemmatizer(vocabs=vocabs, model=model), torch.device("cpu"))
    forms, upos = ["her", "her", "cats"], ["PRON", "PRON", "NOUN"]
    assert lemmatization.lemmatize(forms, upos, ["Poss=Yes", "Case=Acc", "_"]) == ["her", "she", "cat"]
    assert lemmatization.lemmatize(forms, upos) == ["she", "she", "cat"]  # without FEATS, the (form, UPOS) lemma


def test_a_tagger_lemmatizes_with_the_feats_it_predicted(tiny_model):
    tagger = load_model(tiny_model)
    words = ["I", "like", "cats", "."]
    tags = tagger.tag([words])[0]
    assert tags["feats"][2] == "Number=Plur" and tags["lemma"][2] == "cat"  # memorised
    lemmatization = tagger.lemmatization
    lemmatization.vocabs.feats_dictionary = {("cats", "NOUN", "Number=Plur"): "cat-by-feats",
                                             ("cats", "NOUN", "Number=Sing"): "never"}
    lemmatization.feats_forms = frozenset({"cats"})
    assert tagger.tag([words])[0]["lemma"][2] == "cat-by-feats"


def test_lemmatizer_overfits_pairs_the_dictionary_does_not_answer():
    vocabs, model = _overfit(PAIRS)
    # the model alone (an empty dictionary), so every pair is decoded, irregular ones included
    bare = LemmaVocabularies(chars=vocabs.chars, upos=vocabs.upos, dictionary={})
    lemmatization = Lemmatization(TrainedLemmatizer(vocabs=bare, model=model), torch.device("cpu"))
    assert lemmatization.lemmatize([f for f, _, _ in PAIRS], [u for _, u, _ in PAIRS]) == [l for _, _, l in PAIRS]
    # one at a time gives the same lemmas
    assert [lemmatization._decode([(f, u)])[0] for f, u, _ in PAIRS] == [l for _, _, l in PAIRS]


def test_lemmatization_uses_the_dictionary_first_and_caches_decoded_pairs():
    vocabs, model = _overfit(PAIRS[:4], steps=5)  # barely trained: the model's own guesses are not the lemmas
    vocabs.dictionary[("walked", "VERB")] = "WALK"  # only the dictionary can give this
    lemmatization = Lemmatization(TrainedLemmatizer(vocabs=vocabs, model=model), torch.device("cpu"))
    lemmas = lemmatization.lemmatize(["walked", "unseen", "unseen"], ["VERB", "NOUN", "NOUN"])
    assert lemmas[0] == "WALK" and lemmas[1] == lemmas[2]
    assert set(lemmatization.cache) == {("unseen", "NOUN")}


def test_lemmas_do_not_depend_on_which_words_are_decoded_together():
    # float32 by default: what one process decodes in one batch, several processes' caches decode in others
    vocabs, model = _overfit(PAIRS[:4], steps=5)  # barely trained: outputs that small differences would move
    bare = LemmaVocabularies(chars=vocabs.chars, upos=vocabs.upos, dictionary={})
    lemmatization = Lemmatization(TrainedLemmatizer(vocabs=bare, model=model), torch.device("cpu"))
    assert lemmatization.model is model  # not a quantized copy
    keys = [(f, u) for f, u, _ in PAIRS] + [("unseenword", "NOUN"), ("Somewhere", "PROPN"), ("x", "X")]
    together = lemmatization._decode(keys)
    assert [lemmatization._decode([key])[0] for key in keys] == together
    assert lemmatization._decode(keys[::-1]) == together[::-1]
    int8 = Lemmatization(TrainedLemmatizer(vocabs=bare, model=model), torch.device("cpu"), int8=True)
    assert int8.model is not model


def test_edit_of_prefers_identity_then_lower_case():
    assert [edit_of(f, l) for f, l in [("the", "the"), ("The", "the"), ("Paris", "Paris"), ("went", "go")]] == [
        "identity", "lower", "identity", "decode"]


def test_edit_classifier_copies_a_form_longer_than_any_it_was_trained_on():
    pairs = PAIRS + [("http://a.io/x", "X", "http://a.io/x"), ("www.b.org", "X", "www.b.org"),
                     ("Paris", "PROPN", "Paris"), ("Oslo", "PROPN", "Oslo")]
    vocabs, model = _overfit(pairs)
    url = "http://www.b.org/houses/talked/better/walked/dogs/cats/the/dogs.io"  # every character seen in training
    assert all(c in vocabs.chars.index for c in url)
    assert model.predict_edits(make_lemma_batch([url, "Went", "The"], ["X", "VERB", "DET"], vocabs)) == [
        "identity", "decode", "lower"]
    bare = LemmaVocabularies(chars=vocabs.chars, upos=vocabs.upos, dictionary={})
    lemmatization = Lemmatization(TrainedLemmatizer(vocabs=bare, model=model), torch.device("cpu"))
    assert lemmatization.lemmatize([url, "Went"], ["X", "VERB"]) == [url, "go"]


def test_predict_lemmas_decodes_only_what_the_classifier_leaves_as_predict_would():
    pairs = PAIRS + [("http://a.io/x", "X", "http://a.io/x"), ("Paris", "PROPN", "Paris"), ("The", "DET", "the")]
    vocabs, model = _overfit(pairs)
    forms, upos = [f for f, _, _ in pairs], [u for _, u, _ in pairs]
    batch = make_lemma_batch(forms, upos, vocabs)
    edits, sequences = model.predict_lemmas(batch)
    assert [ids is None for ids in sequences] == [edit != "decode" for edit in edits]
    assert {"identity", "lower", "decode"} <= set(edits)
    decoded = model.predict(batch)  # float32: the subset decodes as the whole batch does
    assert all(ids == alone for ids, alone in zip(sequences, decoded) if ids is not None)


def test_lemmatizer_v1_is_the_model_without_the_edit_classifier():
    vocabs = LemmaVocabularies.build(_sentences(PAIRS))
    v1 = registry.architectures.get("bilstm_tagger.Lemmatizer.v1")
    assert "edit_classifier" not in inspect.signature(v1).parameters
    assert v1()(vocabs).edit_classifier is None
    assert registry.architectures.get("bilstm_tagger.Lemmatizer.v2")()(vocabs).edit_classifier is not None
    assert model_keys(v1()(vocabs)) < model_keys(CharLemmatizer.from_vocabs(vocabs))


def model_keys(model):
    return set(model.to_arrays())


def test_beam_search_never_scores_below_greedy():
    vocabs, model = _overfit(PAIRS, steps=20)  # half-trained, so the search has choices to make
    forms = ["walking", "catz", "Houses", "gone", "bettter", "xyz"]
    batch = make_lemma_batch(forms, ["VERB", "NOUN", "NOUN", "VERB", "ADJ", "X"], vocabs)
    model.eval()
    with torch.inference_mode():
        encoded = model.encode(batch)
        greedy, greedy_scores = model.beam_search(batch, encoded, 1)
        for k in (2, 4, 8):
            found, scores = model.decode(batch, beam_size=k)
            assert bool((scores >= greedy_scores - 1e-5).all())
    # the scores are the model's log-probabilities of what was found
    lemmas = ["".join(vocabs.chars.tokens[c] for c in ids) for ids in found]
    check = make_lemma_batch(forms, ["VERB", "NOUN", "NOUN", "VERB", "ADJ", "X"], vocabs, lemmas=lemmas)
    assert torch.allclose(model.sequence_log_prob(check), scores, atol=1e-4)


def test_small_batches_run_step_by_step_as_nn_lstm_does(monkeypatch):
    vocabs, model = _overfit(PAIRS, steps=20)  # half-trained: lemmas that small differences would move
    forms, upos = ["walking", "catz", "Houses", "gone", "bettter", "x"], ["VERB", "NOUN", "NOUN", "VERB", "ADJ", "X"]
    batch = make_lemma_batch(forms, upos, vocabs)
    model.eval()
    assert model._stepwise(len(forms)) and not model._stepwise(STEP_ROWS)

    def run():
        with torch.inference_mode():
            states, mask, (h, c) = model.encode(batch)
            return states, h, c, *model.decode(batch, beam_size=3)

    for change in (None, 0.5):  # the kept tables follow the weights when they change in place
        if change:
            with torch.no_grad():
                model.decoder.weight_hh_l0.mul_(change)
                model.encoder.weight_ih_l0_reverse.mul_(change)
        stepped = run()
        with monkeypatch.context() as patch:
            patch.setattr(model, "_stepwise", lambda rows, int8_steps=False: False)
            fused = run()
        for a, b in zip(stepped[:3], fused[:3]):
            assert torch.allclose(a, b, atol=1e-5)
        assert stepped[3] == fused[3]
        assert torch.allclose(stepped[4], fused[4], atol=1e-4)


def test_int8_steps_decode_each_word_as_alone_and_close_to_float32():
    vocabs, model = _overfit(PAIRS, steps=60)
    forms = [f for f, _, _ in PAIRS] + ["walking", "catz", "Houses", "bettter"]
    upos = [u for _, u, _ in PAIRS] + ["VERB", "NOUN", "NOUN", "ADJ"]
    batch = make_lemma_batch(forms, upos, vocabs)
    model.eval()
    with torch.inference_mode():
        float_states, _, (float_h, _) = model.encode(batch)
        states, _, (h, _) = model.encode(batch, int8_steps=True)
    assert model._stepwise(STEP_ROWS, int8_steps=True)  # every batch, whatever its size
    assert torch.allclose(states, float_states, atol=0.03) and torch.allclose(h, float_h, atol=0.03)
    assert not torch.equal(states, float_states)  # the products were int8 ones
    bare = LemmaVocabularies(chars=vocabs.chars, upos=vocabs.upos, dictionary={})
    lemmatization = Lemmatization(TrainedLemmatizer(vocabs=bare, model=model), torch.device("cpu"), int8_steps=True)
    keys = list(zip(forms, upos))
    together = lemmatization._decode(keys)
    assert [lemmatization._decode([key])[0] for key in keys] == together
    assert together[: len(PAIRS)] == [l for _, _, l in PAIRS]  # what it learnt, as float32 decoding gives it
    assert Lemmatization(TrainedLemmatizer(vocabs=bare, model=model), torch.device("cpu"), int8=True).int8_steps is False


def test_factored_head_outputs_a_bundle_never_seen_in_training():
    bundles = ["Case=Dat|Number=Sing", "Case=Nom|Number=Plur", "_"]
    head = FactoredFeatsHead(input_dim=2, bundles=bundles)
    assert feature_inventory(bundles) == {"Case": ["Dat", "Nom"], "Number": ["Plur", "Sing"]}
    # value columns: Case (absent, Dat, Nom), Number (absent, Plur, Sing); input 0 favours Dat and Plur
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.zero_()
        head.linear.weight[1, 0] = head.linear.weight[4, 0] = 5.0
        head.linear.weight[2, 1] = head.linear.weight[5, 1] = 5.0
    ids = head.predict(head(torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])))
    labels = head.labels()
    assert [labels[i] for i in ids[0].tolist()] == ["Case=Dat|Number=Plur", "Case=Nom|Number=Sing", "_"]
    assert labels[:3] == bundles  # training bundles keep their ids; new ones come after


def test_factored_head_loss_is_the_sum_of_per_feature_losses():
    head = FactoredFeatsHead(input_dim=3, bundles=["Case=Dat|Number=Sing", "Number=Plur"])
    scores = head(torch.randn(1, 3, 3))
    gold = torch.tensor([[0, 1, IGNORE_INDEX]])
    case, number = scores[0, :2].split(head.sizes, dim=-1)
    expected = torch.nn.functional.cross_entropy(case, torch.tensor([1, 0])) + torch.nn.functional.cross_entropy(
        number, torch.tensor([2, 1]))
    assert torch.allclose(head.loss(scores, gold), expected)


def test_factored_model_trains_saves_and_tags_identically(tiny_path, tmp_path):
    out = train_tiny(tmp_path / "m", tiny_path, **{"model.feats_head": "factored", "training.targets": ["upos", "feats"]})
    first, second = load_model(out), load_model(out)
    sentences = [s.forms for s in read_conllu(tiny_path)]
    assert first.tag(sentences) == second.tag(sentences)
    assert [t["feats"] for t in first.tag(sentences)] == [[w.feats for w in s.words] for s in read_conllu(tiny_path)]


def test_training_with_lemmas_writes_and_reads_the_lemmatizer(tiny_model, tiny_data):
    tagger = load_model(tiny_model)
    assert tagger.targets == ["upos", "xpos", "feats", "lemma"]
    assert tagger.meta["parts"].keys() >= {"lemmatizer.json", "lemmatizer.safetensors"}
    assert tagger.meta["lemmatizer"]["best_epoch"] >= 1
    gold = read_conllu(tiny_data)
    predicted = tagger.tag([s.forms for s in gold])
    # every training (form, UPOS) is in the dictionary, and the tiny model memorises UPOS: all lemmas right
    assert [t["lemma"] for t in predicted] == [[w.lemma for w in s.words] for s in gold]
    assert score(gold, predicted)["metrics"]["lemma"]["accuracy"] == 100.0


def test_model_directory_without_its_lemmatizer_is_refused(tiny_model, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    (copy / LEMMATIZER_FILE).unlink()
    with pytest.raises(ModelDirError, match="missing lemmatizer.json"):
        load_model(copy)


def test_lemma_without_upos_is_refused(tiny_path, tmp_path):
    with pytest.raises(ConfigError, match='"lemma" needs an annotated "upos"'):
        train_tiny(tmp_path / "m", tiny_path, **{"training.targets": ["xpos", "lemma"]})


def test_model_trained_without_lemma_does_not_lemmatize(tiny_path, tmp_path):
    tagger = load_model(train_tiny(tmp_path / "m", tiny_path, **{"training.targets": ["upos"], "training.max_epochs": 1}))
    assert tagger.targets == ["upos"] and "lemmatizer.json" not in tagger.meta["parts"]
    assert "lemma" not in tagger.tag([["cats"]])[0]
