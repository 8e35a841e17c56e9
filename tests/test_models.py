"""Contract tests for the model families: overfit, save/load identity, batch = one-at-a-time, gradients.

Written once over ``FAMILIES`` so that every family added later is held to the same contract.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bilstm_tagger import load_config, load_model, read_conllu, save_model, train
from bilstm_tagger.inference.form_cache import FormCache
from bilstm_tagger.models.base import TaggerModel, build_model
from bilstm_tagger.models.batching import make_batch
from bilstm_tagger.models.bilstm import BiLSTMTagger
from bilstm_tagger.models.embedding import WordCharEmbedding
from bilstm_tagger.models.neural import doubled_cell_input, lstm_cell, padded_bilstm, run_packed
from bilstm_tagger.vocab import Vocabularies

from .conftest import CONFIGS, OVERFIT_OVERRIDES, TINY_CONLLU, data_overrides, train_tiny

#: (family name, config file, overrides that make it tiny); one pass over the tiny data per epoch
SMALL = {"model.word_dim": 16, "model.char_dim": 8, "model.char_hidden": 8, "model.hidden": 32, "training.epoch_words": 0}
FAMILIES = [
    ("bilstm", "tiny.cfg", {}),
    ("bilstm-charcnn", "tiny.cfg", {"model.char_encoder": "cnn"}),
    # (bilstm.cfg also trains lemmas: those are tested in test_lemmatizer.py)
    ("bilstm-2layers", "bilstm.cfg", {**SMALL, "model.hidden": 16, "training.targets": ["upos", "xpos", "feats"]}),
    ("rnn-lstm", "rnn.cfg", SMALL),
    ("rnn-gru", "rnn.cfg", {**SMALL, "model.cell": "gru"}),
    ("rnn-elman", "rnn_elman.cfg", {**SMALL, "training.learning_rate": 0.005}),
    ("seq2seq", "seq2seq.cfg", {**SMALL, "model.tag_dim": 8, "model.beam_size": 2}),
    ("seq2seq-forward", "seq2seq.cfg", {**SMALL, "model.tag_dim": 8, "model.reverse_input": False}),
    ("seq2seq-attention", "seq2seq_attention.cfg", {**SMALL, "model.tag_dim": 8}),
    ("seq2seq-input-feeding", "seq2seq_attention.cfg", {**SMALL, "model.tag_dim": 8, "model.input_feeding": True}),
    ("hmm-trigram", "hmm.cfg", {"training.targets": ["upos", "xpos", "feats"]}),
    ("hmm-bigram", "hmm.cfg", {"model.order": 1, "training.targets": ["upos", "xpos", "feats"]}),
    ("hmm-per-target", "hmm.cfg", {"model.joint": False, "training.targets": ["upos", "xpos", "feats"]}),
]


@pytest.fixture(scope="module", params=FAMILIES, ids=[f[0] for f in FAMILIES])
def trained(request, tmp_path_factory):
    name, config_name, overrides = request.param
    root = tmp_path_factory.mktemp(name)
    data = root / "tiny.conllu"
    data.write_text(TINY_CONLLU, encoding="utf-8")
    counting = "HMM" in load_config(CONFIGS / config_name)["model"]["@architectures"]
    # the HMM has no dropout or learning rate to override
    overfit = {} if counting else {**OVERFIT_OVERRIDES, "system.device": "cpu"}
    config = load_config(CONFIGS / config_name, overrides={**overfit, **data_overrides(data), **overrides})
    train(config, output_dir=root / "model", progress=False)
    return root / "model", data


def test_model_overfits_tiny_set(trained):
    model_dir, data = trained
    tagger = load_model(model_dir)
    gold = read_conllu(data)
    predicted = tagger.tag([s.forms for s in gold])
    for sentence, tags in zip(gold, predicted):
        assert tags["upos"] == [w.upos for w in sentence.words]
        assert tags["feats"] == [w.feats for w in sentence.words]
        # XPOS was "_" for "Dogs": unannotated, so any tag is allowed there
        assert [t for t, w in zip(tags["xpos"], sentence.words) if w.xpos] == [w.xpos for w in sentence.words if w.xpos]


def test_model_save_load_identical(trained, tmp_path):
    model_dir, data = trained
    first = load_model(model_dir)
    save_model(tmp_path / "copy", config=first.config, vocabs=first.vocabs, model=first.model, meta={},
               lemmatizer=first.trained.lemmatizer)
    second = load_model(tmp_path / "copy")
    a, b = first.model.to_arrays(), second.model.to_arrays()
    assert a.keys() == b.keys()
    assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
    forms = [s.forms for s in read_conllu(data)] + [["Unseen", "words", "here", "!"]]
    assert first.tag(forms) == second.tag(forms)
    if isinstance(first.model, torch.nn.Module):
        sentences = read_conllu(data)  # with gold tags: the seq2seq decoder is teacher-forced in forward()
        batch = make_batch([s.forms for s in sentences], first.vocabs, labels=sentences)
        for target, logits in first.model(batch).items():
            assert torch.equal(logits, second.model(batch)[target])


def test_model_batch_equals_one_at_a_time(trained):
    model_dir, data = trained
    tagger = load_model(model_dir)
    forms = [s.forms for s in read_conllu(data)] + [["cats"], ["The", "dogs", "like", "I", "n't", "."]]
    together = tagger.tag(forms)
    alone = [tagger.tag([f])[0] for f in forms]
    tiny_batches = tagger.tag(forms, batch_words=1)
    assert together == alone == tiny_batches


def test_model_form_cache_gives_the_plain_forward_results(trained):
    """Tagging through a FormCache (also one so small that it starts over between sentences) gives
    the labels of the plain forward pass; for the BiLSTM the step-by-step recurrence from cached projections gives
    nn.LSTM's logits."""
    tagger = load_model(trained[0])
    network = tagger.model
    if not isinstance(network, torch.nn.Module):
        pytest.skip("the HMM has no form cache")
    forms = [s.forms for s in read_conllu(trained[1])] + [["Unseenword", "zzz", "."], ["The", "The", "the"]]
    cpu = torch.device("cpu")
    with torch.inference_mode():
        plain_batch = make_batch(forms, tagger.vocabs)
        expected = network.predict(plain_batch)
        # one sentence per batch; the small cache must start over between sentences
        smallest = max(len(set(f)) for f in forms)
        encoding = network.form_encodings[0] if network.form_encodings else "embedding"
        for capacity in (10_000, smallest, smallest + 3, 2 * smallest):
            cache = FormCache(vocabs=tagger.vocabs, model=network, device=cpu, encoding=encoding, capacity=capacity)
            for _ in range(2):  # the second pass finds forms in the cache
                for row, sentence in enumerate(forms):
                    got = network.predict(cache.make_batch([sentence]))
                    assert len(cache) <= capacity
                    for target in expected:
                        n = len(sentence)
                        assert got[target][0, :n].tolist() == expected[target][row, :n].tolist()
        if isinstance(network, BiLSTMTagger):
            assert tagger.runtime.cache.encoding == "projection"  # the default on the CPU in float32
            plain = network(plain_batch)
            cached = network(
                FormCache(vocabs=tagger.vocabs, model=network, device=cpu, encoding="projection").make_batch(forms)
            )
            mask = torch.arange(plain_batch.words.shape[1]) < plain_batch.lengths[:, None]
            for target in plain:
                torch.testing.assert_close(cached[target][mask], plain[target][mask], rtol=1e-4, atol=1e-5)


def test_form_cache_keeps_the_most_used_forms_when_full(tiny_model):
    tagger = load_model(tiny_model)
    network, cpu = tagger.model, torch.device("cpu")
    cache = FormCache(vocabs=tagger.vocabs, model=network, device=cpu, encoding="projection", capacity=4)
    with torch.inference_mode():
        cache.make_batch([["cats", "cats", "cats", "dogs"]])
        cache.make_batch([["bark", "sleeps"]])
        vector = cache.table[cache.rows["cats"]].clone()
        cache.make_batch([["loudly"]])  # full: the two most used stay ("dogs" before the later forms used once)
        assert list(cache.rows) == ["cats", "dogs", "loudly"] and list(cache.rows.values()) == [1, 2, 3]
        torch.testing.assert_close(cache.table[cache.rows["cats"]], vector)
        cache.make_batch([["a", "b", "c", "d"]])  # a batch that needs every row: starts from empty
        assert list(cache.rows) == ["a", "b", "c", "d"]


def test_form_cache_add_encodes_ahead_what_batches_would_encode(tiny_model):
    """Forms added ahead (in the order given, up to AHEAD_SHARE of the capacity, known ones skipped) hold the
    vectors a batch would have encoded: the predictions through the warmed cache are those of a cold one."""
    from bilstm_tagger.inference import form_cache

    tagger = load_model(tiny_model)
    network, cpu = tagger.model, torch.device("cpu")
    sentences = [["I", "like", "cats", "."], ["Dogs", "bark", "loudly"], ["Unseenword", "cats", "zzz"]]
    forms = ["cats", "zzz", "I", "Dogs", "loudly", "bark", ".", "like", "Unseenword", "missing"]
    with torch.inference_mode():
        cold = FormCache(vocabs=tagger.vocabs, model=network, device=cpu, encoding="projection", int8_steps=True)
        warm = FormCache(vocabs=tagger.vocabs, model=network, device=cpu, encoding="projection", int8_steps=True)
        assert warm.add(forms) == len(forms) and list(warm.rows) == forms
        assert warm.add(["cats", "zzz"]) == 0  # already kept
        expected = network.predict(cold.make_batch(sentences))
        got = network.predict(warm.make_batch(sentences))
        assert list(warm.rows) == forms  # the batch found every form it needed
        for target in expected:
            assert torch.equal(got[target], expected[target])
        small = FormCache(vocabs=tagger.vocabs, model=network, device=cpu, encoding="projection", capacity=8)
        assert small.add(forms) == int(8 * form_cache.AHEAD_SHARE) == 7
        assert list(small.rows) == forms[:7]


def test_model_int8_tags_like_float32_and_saves_float32(trained, tmp_path):
    """precision int8 tags the memorised tiny set as float32 does, with a quantized copy: the network the
    Tagger saves keeps its float32 weights."""
    tagger = load_model(trained[0])
    if not isinstance(tagger.model, torch.nn.Module):
        pytest.skip("the HMM has no precision")
    forms = [s.forms for s in read_conllu(trained[1])]
    expected = tagger.tag(forms)
    tagger = tagger.with_options(precision="int8")
    assert tagger.runtime.model is not tagger.model
    assert any("quantized" in type(m).__module__ for m in tagger.runtime.model.modules())
    assert tagger.tag(forms) == expected
    assert all(p.dtype == torch.float32 for p in tagger.model.parameters())


def test_model_empty_inputs(trained):
    tagger = load_model(trained[0])
    assert tagger.tag([]) == []
    out = tagger.tag([[], ["cats"], []])
    assert out[0] == {t: [] for t in tagger.targets} == out[2]
    assert len(out[1]["upos"]) == 1


def test_model_every_parameter_gets_a_gradient(trained):
    model_dir, data = trained
    tagger = load_model(model_dir)
    if not isinstance(tagger.model, torch.nn.Module):
        pytest.skip("trained by counting, not by gradients")
    network = tagger.model.train()
    sentences = read_conllu(data)
    batch = make_batch([s.forms for s in sentences], tagger.vocabs, labels=sentences)
    network.zero_grad()
    network.loss(batch).backward()
    missing = [name for name, p in network.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    # the PAD row of the embeddings is fixed by design; everything else must learn
    assert missing == []


def test_model_unidirectional_rnn_does_not_look_ahead(tiny_path):
    from bilstm_tagger.models.rnn import RNNTagger

    vocabs = Vocabularies.build(read_conllu(tiny_path))
    torch.manual_seed(0)
    network = RNNTagger(n_words=len(vocabs.words), n_chars=len(vocabs.chars), n_labels={"upos": 17},
                        word_dim=8, char_dim=4, char_hidden=4, hidden=8, layers=2, dropout=0.0).eval()
    a = network(make_batch([["I", "like", "cats"]], vocabs))["upos"]
    b = network(make_batch([["I", "like", "dogs", "loudly"]], vocabs))["upos"]
    # changing word 3 (and adding word 4) leaves the scores of words 1 and 2 alone
    assert torch.allclose(a[0, :2], b[0, :2], atol=1e-6) and not torch.allclose(a[0, 2], b[0, 2])


def test_model_same_seed_same_weights(tiny_path, tmp_path):
    a = load_model(train_tiny(tmp_path / "a", tiny_path, **{"training.max_epochs": 3}))
    b = load_model(train_tiny(tmp_path / "b", tiny_path, **{"training.max_epochs": 3}))
    c = load_model(train_tiny(tmp_path / "c", tiny_path, **{"training.max_epochs": 3, "system.seed": 1}))
    sa, sb, sc = (m.model.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_model_word_dropout_replaces_rare_words_more_often(tiny_path):
    sentences = read_conllu(tiny_path)
    vocabs = Vocabularies.build(sentences)
    rng = random.Random(0)
    forms = [["I", "loudly"]] * 2000  # "I" is seen 2 times, "loudly" once
    words = make_batch(forms, vocabs, word_dropout=1.0, rng=rng).words
    unk_rate = (words == 1).float().mean(dim=0)
    assert 0.25 < unk_rate[0] < 0.42  # 1 / (1 + 2)
    assert 0.42 < unk_rate[1] < 0.58  # 1 / (1 + 1)


def test_model_configs_build(tiny_path):
    for path in sorted(CONFIGS.glob("*.cfg")):
        config = load_config(path)
        targets = config["training"]["targets"]
        model = build_model(config["model"], Vocabularies.build(read_conllu(tiny_path), targets=targets))
        assert set(model.n_labels) == set(targets) - {"lemma"}, path  # lemmas are the lemmatizer's
        assert isinstance(model, TaggerModel) and model.family, path  # every family implements the contract


def test_lstm_cell_reading_a_doubled_cell_input_is_torchs_lstm_cell():
    torch.manual_seed(0)
    reference = torch.nn.LSTMCell(5, 4)
    x, h, c = torch.randn(3, 5), torch.rand(3, 4) * 2 - 1, torch.randn(3, 4)
    gates = x @ reference.weight_ih.t() + h @ reference.weight_hh.t() + reference.bias_ih + reference.bias_hh
    doubled = doubled_cell_input(gates, 4)
    assert torch.equal(doubled[:, 8:12], 2 * gates[:, 8:12]) and torch.equal(doubled[:, :8], gates[:, :8])
    assert torch.equal(doubled_cell_input(reference.weight_ih, 4, dim=0)[8:12], 2 * reference.weight_ih[8:12])
    with torch.no_grad():
        expected_h, expected_c = reference(x, (h, c))
        got_h, got_c = lstm_cell(doubled, c)
    torch.testing.assert_close(got_h, expected_h, rtol=0, atol=1e-6)
    torch.testing.assert_close(got_c, expected_c, rtol=0, atol=1e-6)


@pytest.mark.parametrize("layers", [1, 2])
def test_padded_bilstm_is_the_packed_bilstm_with_its_gradients(layers):
    """Training's unpacked BiLSTM (two one-directional passes, sentences reversed within their lengths) gives the
    packed run's states, final states and gradients, whatever padding follows a sentence."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 4, num_layers=layers, batch_first=True, bidirectional=True)
    lengths = torch.tensor([7, 2, 1, 5])
    inputs = torch.randn(4, 7, 5)
    inputs[1, 2:] = 100.0  # padding that would change a state if any pass read it
    upstream = torch.randn(4, 7, 8)

    def run(runner):
        lstm.zero_grad()
        x = inputs.clone().requires_grad_(True)
        states, final = runner(lstm, x, lengths)
        final = final[0] if isinstance(final, tuple) else final
        (states * upstream).sum().add(final.sum()).backward()
        return states.detach(), final.detach(), [p.grad.clone() for p in lstm.parameters()] + [x.grad]

    packed, padded = run(run_packed), run(padded_bilstm)
    torch.testing.assert_close(padded[0], packed[0], rtol=0, atol=1e-6)
    assert torch.equal(padded[0][1, 2:], torch.zeros(5, 8))  # zero after a sentence's end, as run_packed's
    torch.testing.assert_close(padded[1], packed[1], rtol=0, atol=1e-6)
    for got, expected in zip(padded[2], packed[2]):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_char_encoder_training_groups_by_length_as_packed():
    """In training on the CPU the character BiLSTM runs over groups of forms of similar length; each form's
    encoding is the packed run's, a form far longer than the others included."""
    torch.manual_seed(0)
    embedding = WordCharEmbedding(n_words=5, n_chars=20, word_dim=4, char_dim=6, char_hidden=3, char_encoder="lstm")
    lengths = torch.tensor([1, 6, 7, 10, 11, 16, 17, 40, 3])
    chars = torch.zeros(len(lengths), 40, dtype=torch.long)
    for row, length in enumerate(lengths.tolist()):
        chars[row, :length] = torch.randint(1, 20, (length,))
    grouped = embedding.train().encode_types(chars, lengths)
    packed = embedding.eval().encode_types(chars, lengths)
    torch.testing.assert_close(grouped, packed, rtol=0, atol=1e-6)
