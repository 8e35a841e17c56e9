"""int8 products of LSTM states (bilstm_tagger.models.int8) and the BiLSTM step loop that runs on them: close to
float32, a row's product depends on that row alone, and a sentence gets the same tags in any batch."""

from __future__ import annotations

import pytest
import spacy
import torch
from spacy.tokens import Doc

from bilstm_tagger import InferenceOptions, load_model, read_conllu
from bilstm_tagger.cli import main
from bilstm_tagger.inference.form_cache import FormCache
from bilstm_tagger.models import int8
from bilstm_tagger.models.batching import char_ids

pytestmark = pytest.mark.skipif(not int8.available(), reason="this torch has no int8 products on the CPU")


def test_products_are_close_to_float_and_each_row_stands_alone():
    generator = torch.Generator().manual_seed(0)
    states = torch.rand(2, 9, 24, generator=generator) * 2 - 1  # LSTM states: in (-1, 1)
    states[1, 3] *= 0.01  # a row of small states keeps its own precision: nothing is scaled by the batch
    weights = torch.randn(2, 24, 40, generator=generator)
    quantized = int8.quantize_columns(weights)
    assert quantized.values.dtype == torch.int8 and quantized.factors.shape == (2, 1, 40)
    got = int8.bmm(states, quantized)
    expected = torch.bmm(states, weights)
    # one step of 1/127 per state and of a column's largest weight / 127 per weight: a bound on each product
    bound = (24 / 127) * weights.abs().amax(dim=1, keepdim=True)
    assert bool(((got - expected).abs() <= bound).all())
    assert float((got - expected).abs().mean()) < 0.05
    # a row alone (below FLOAT_ROWS: the integers multiplied in float32) and any few rows give the same bits
    for first, rows in [(row, 1) for row in range(9)] + [(0, int8.FLOAT_ROWS), (2, 5)]:
        alone = int8.bmm(states[:, first : first + rows], quantized)
        assert torch.equal(alone, got[:, first : first + rows])


def test_int8_steps_are_the_default_close_to_float_and_batch_independent(tiny_model, tiny_data):
    forms = [s.forms for s in read_conllu(tiny_data)] + [["Unseenword", "zzz", "."], ["The", "The", "the"]]
    default = load_model(tiny_model)
    plain = load_model(tiny_model, InferenceOptions(int8_steps=False))
    assert default.runtime.cache.int8_steps and not plain.runtime.cache.int8_steps
    assert default.tag(forms) == plain.tag(forms)
    network, cpu = default.model, torch.device("cpu")
    with torch.inference_mode():
        def logits(sentences, int8_steps):
            cache = FormCache(vocabs=default.vocabs, model=network, device=cpu, encoding="projection",
                              int8_steps=int8_steps)
            return network(cache.make_batch(sentences))

        together, exact = logits(forms, True), logits(forms, False)
        for row, sentence in enumerate(forms):
            alone = logits([sentence], True)
            n = len(sentence)
            for target in together:
                # the float parts around the products (the cached projections) round a little differently
                # in batches of other shapes (1e-7); a state's int8 rounding can then move by one step, not more
                torch.testing.assert_close(alone[target][0, :n], together[target][row, :n], rtol=0, atol=1e-3)
                torch.testing.assert_close(together[target][row, :n], exact[target][row, :n], rtol=0, atol=0.05)


def test_int8_steps_follow_the_weights_when_they_change(tiny_model, tiny_data):
    """Training evaluates dev between optimizer steps with the same network: the int8 weights must not go stale."""
    forms = [s.forms for s in read_conllu(tiny_data)]
    tagger = load_model(tiny_model)
    network, cpu = tagger.model, torch.device("cpu")

    def logits():
        with torch.inference_mode():
            cache = FormCache(vocabs=tagger.vocabs, model=network, device=cpu, encoding="projection", int8_steps=True)
            return network(cache.make_batch(forms))["upos"]

    before = logits()
    # the recurrence, the kept input projection, a head
    for weight in (network.lstm.weight_hh_l0, network.lstm.weight_ih_l0, network.heads["upos"].weight):
        with torch.no_grad():
            weight.mul_(0.5)  # in place, as an optimizer step is
        assert not torch.equal(before, logits())
        with torch.no_grad():
            weight.mul_(2.0)
        torch.testing.assert_close(logits(), before, rtol=0, atol=1e-5)


def test_character_lstm_in_int8_steps_is_close_to_nn_lstm_and_form_by_form_the_same(tiny_model):
    tagger = load_model(tiny_model)
    embedding = tagger.model.embedding
    forms = ["a", "Dogs", "bark", "supercalifragilistic", "x1", "the", "Dogs"]
    chars, lengths = char_ids(forms, tagger.vocabs)
    with torch.inference_mode():
        exact = embedding.encode_types(chars, lengths)
        got = embedding.encode_types(chars, lengths, int8_steps=True)
        torch.testing.assert_close(got, exact, rtol=0, atol=0.05)
        assert torch.equal(got[1], got[6])  # the same form, twice in one batch
        for i, form in enumerate(forms):
            alone = embedding.encode_types(*char_ids([form], tagger.vocabs), int8_steps=True)
            torch.testing.assert_close(alone[0], got[i], rtol=0, atol=1e-3)


def test_float_steps_from_the_cli_and_the_component(tiny_model, tiny_data, tmp_path):
    assert main(["predict", str(tiny_model), str(tiny_data), "-o", str(tmp_path / "int8.conllu")]) == 0
    assert main(["predict", str(tiny_model), str(tiny_data), "--float-steps", "-o", str(tmp_path / "float.conllu")]) == 0
    assert (tmp_path / "int8.conllu").read_text() == (tmp_path / "float.conllu").read_text()
    nlp = spacy.blank("en")
    component = nlp.add_pipe("bilstm_tagger", config={"model": str(tiny_model), "int8_steps": False})
    doc = nlp(Doc(nlp.vocab, words=["Dogs", "bark", "."]))
    assert not component.tagger.runtime.cache.int8_steps
    assert not component.tagger.lemmatization.int8_steps  # the lemmatizer follows the option
    assert load_model(tiny_model).lemmatization.int8_steps == int8.available()
    assert [token.pos_ for token in doc] == load_model(tiny_model).tag([["Dogs", "bark", "."]])[0]["upos"]
