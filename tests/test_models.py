"""Contract tests for the model families: overfit, save/load identity, batch = one-at-a-time, gradients.

Written once over ``FAMILIES`` so that every family added later is held to the same contract.
"""

from __future__ import annotations

import random

import pytest
import torch

from bilstm_tagger import load_config, load_model, read_conllu, save_model, train
from bilstm_tagger.batching import make_batch
from bilstm_tagger.serialization import build_network
from bilstm_tagger.vocab import Vocabularies

from .conftest import CONFIGS, OVERFIT_OVERRIDES, TINY_CONLLU, train_tiny

#: (family name, config file, overrides that make it tiny)
FAMILIES = [
    ("bilstm", "tiny.cfg", {}),
    ("bilstm-charcnn", "tiny.cfg", {"model.char_encoder": "cnn"}),
    ("bilstm-2layers", "bilstm.cfg", {"model.word_dim": 16, "model.char_dim": 8, "model.char_hidden": 8, "model.hidden": 16}),
]


@pytest.fixture(scope="module", params=FAMILIES, ids=[f[0] for f in FAMILIES])
def trained(request, tmp_path_factory):
    name, config_name, overrides = request.param
    root = tmp_path_factory.mktemp(name)
    data = root / "tiny.conllu"
    data.write_text(TINY_CONLLU, encoding="utf-8")
    config = load_config(CONFIGS / config_name, overrides={**OVERFIT_OVERRIDES, "system.device": "cpu", **overrides})
    train(config, output_dir=root / "model", train_path=data, dev_path=data, progress=False)
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
    save_model(tmp_path / "copy", config=first.config, vocabs=first.vocabs, network=first.network, meta={})
    second = load_model(tmp_path / "copy")
    a, b = first.network.state_dict(), second.network.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    forms = [s.forms for s in read_conllu(data)] + [["Unseen", "words", "here", "!"]]
    assert first.tag(forms) == second.tag(forms)
    batch = make_batch(forms, first.vocabs)
    first.network.eval(), second.network.eval()
    for target, logits in first.network(batch).items():
        assert torch.equal(logits, second.network(batch)[target])


def test_model_batch_equals_one_at_a_time(trained):
    model_dir, data = trained
    tagger = load_model(model_dir)
    forms = [s.forms for s in read_conllu(data)] + [["cats"], ["The", "dogs", "like", "I", "n't", "."]]
    together = tagger.tag(forms)
    alone = [tagger.tag([f])[0] for f in forms]
    tiny_batches = tagger.tag(forms, batch_words=1)
    assert together == alone == tiny_batches


def test_model_empty_inputs(trained):
    tagger = load_model(trained[0])
    assert tagger.tag([]) == []
    out = tagger.tag([[], ["cats"], []])
    assert out[0] == {t: [] for t in tagger.targets} == out[2]
    assert len(out[1]["upos"]) == 1


def test_model_every_parameter_gets_a_gradient(trained):
    model_dir, data = trained
    tagger = load_model(model_dir)
    network = tagger.network.train()
    sentences = read_conllu(data)
    batch = make_batch([s.forms for s in sentences], tagger.vocabs, labels=sentences)
    network.zero_grad()
    network.loss(batch).backward()
    missing = [name for name, p in network.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    # the PAD row of the embeddings is fixed by design; everything else must learn
    assert missing == []


def test_model_same_seed_same_weights(tiny_path, tmp_path):
    a = load_model(train_tiny(tmp_path / "a", tiny_path, **{"training.max_epochs": 3}))
    b = load_model(train_tiny(tmp_path / "b", tiny_path, **{"training.max_epochs": 3}))
    c = load_model(train_tiny(tmp_path / "c", tiny_path, **{"training.max_epochs": 3, "system.seed": 1}))
    sa, sb, sc = (m.network.state_dict() for m in (a, b, c))
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
    vocabs = Vocabularies.build(read_conllu(tiny_path))
    for path in sorted(CONFIGS.glob("*.cfg")):
        network = build_network(load_config(path), vocabs)
        assert set(network.n_labels) == {"upos", "xpos", "feats"}, path
