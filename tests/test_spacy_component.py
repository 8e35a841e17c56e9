"""The spaCy component: add_pipe, annotations, to_disk + spacy.load in a fresh process, batching, edge cases."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from bilstm_tagger import ModelDirError, load_model, read_conllu

spacy = pytest.importorskip("spacy")
from spacy.tokens import Doc  # noqa: E402


def _tags(doc):
    return [(t.text, t.pos_, t.tag_, str(t.morph), t.lemma_) for t in doc]


@pytest.fixture
def nlp(tiny_model):
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(tiny_model)})
    return nlp


def test_spacy_component_sets_pos_tag_morph(nlp, tiny_data):
    for sentence in read_conllu(tiny_data):
        doc = nlp(Doc(nlp.vocab, words=sentence.forms))
        assert [t.pos_ for t in doc] == [w.upos for w in sentence.words]
        assert [t.tag_ for t, w in zip(doc, sentence.words) if w.xpos] == [w.xpos for w in sentence.words if w.xpos]
        assert [str(t.morph) or "_" for t in doc] == [w.feats for w in sentence.words]


def test_spacy_component_matches_the_library(nlp, tiny_model):
    words = ["I", "like", "dogs", ".", "unseenword"]
    doc = nlp(Doc(nlp.vocab, words=words))
    tags = load_model(tiny_model).tag([words])[0]
    assert [t.pos_ for t in doc] == tags["upos"] and [t.tag_ for t in doc] == tags["xpos"]
    assert [t.lemma_ for t in doc] == tags["lemma"] and tags["lemma"][:4] == ["I", "like", "dog", "."]


def test_spacy_component_lemmas_survive_a_round_trip_and_can_be_turned_off(nlp, tiny_model, tmp_path):
    texts = ["I like cats.", "Dogs bark loudly  and sleep", "The cat sleeps."]
    before = [[t.lemma_ for t in doc] for doc in nlp.pipe(texts)]
    assert before[0][:3] == ["I", "like", "cat"] and before[1][0] == "dog"
    nlp.to_disk(tmp_path / "pipeline")
    assert [[t.lemma_ for t in doc] for doc in spacy.load(tmp_path / "pipeline").pipe(texts)] == before
    plain = spacy.blank("en")
    plain.add_pipe("bilstm_tagger", config={"model": str(tiny_model), "lemmatize": False})
    doc = plain("I like cats.")
    assert all(t.lemma_ == "" for t in doc) and doc[2].pos_ == "NOUN"


def test_spacy_component_pipe_equals_one_at_a_time(nlp):
    texts = ["I like cats.", "Dogs bark loudly", "", "The cat sleeps.", "I don't like the dogs ."] * 3
    one_by_one = [_tags(nlp(text)) for text in texts]
    assert [_tags(doc) for doc in nlp.pipe(texts, batch_size=4)] == one_by_one
    assert [_tags(doc) for doc in nlp.pipe(texts, batch_size=1000)] == one_by_one


def test_spacy_component_pipe_tags_short_docs_in_bigger_batches(nlp, monkeypatch):
    from spacy.tokens import Doc

    from bilstm_tagger import spacy_component

    pipe = nlp.get_pipe("bilstm_tagger")
    seen = []
    predict = pipe.predict
    monkeypatch.setattr(pipe, "predict", lambda docs: seen.append(len(docs)) or predict(docs))
    docs = [Doc(nlp.vocab, words=["I", "like", "cats"]) for _ in range(50)]
    assert len(list(pipe.pipe(iter(docs), batch_size=2))) == 50
    assert seen == [16, 16, 16, 2]  # 3-word Docs: 8 times batch_size, far from MIN_PIPE_WORDS
    seen.clear()
    monkeypatch.setattr(spacy_component, "MIN_PIPE_WORDS", 5)
    list(pipe.pipe(iter(docs[:5]), batch_size=2))
    assert seen == [2, 2, 1]  # enough words in batch_size Docs: batch_size it is


def test_spacy_component_empty_doc_and_whitespace(nlp):
    assert len(nlp("")) == 0
    doc = nlp("cats  \n dogs")
    spaces = [t for t in doc if t.is_space]
    assert spaces and all(t.pos_ == "SPACE" and t.tag_ == "_SP" for t in spaces)
    assert all(t.pos_ in ("NOUN", "VERB", "PRON", "DET", "PUNCT", "AUX", "PART", "ADV") for t in doc if not t.is_space)


def test_spacy_component_to_disk_and_load_in_fresh_process(nlp, tiny_model, tmp_path):
    texts = ["I like cats.", "Dogs bark loudly", "The dogs sleep."]
    expected = [_tags(doc) for doc in nlp.pipe(texts)]
    pipeline = tmp_path / "pipeline"
    nlp.to_disk(pipeline)
    # the original model directory is gone: the pipeline must carry everything
    moved = tmp_path / "moved_model"
    shutil.copytree(tiny_model, moved)
    shutil.rmtree(tiny_model)
    try:
        code = (
            "import json, sys, spacy\n"
            f"nlp = spacy.load({str(pipeline)!r})\n"
            f"docs = nlp.pipe({texts!r})\n"
            "print(json.dumps([[(t.text, t.pos_, t.tag_, str(t.morph), t.lemma_) for t in d] for d in docs]))\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    finally:
        shutil.copytree(moved, tiny_model)
    assert [[tuple(t) for t in doc] for doc in json.loads(result.stdout)] == expected


def test_spacy_component_bytes_round_trip(nlp):
    text = "I like the cats ."
    expected = _tags(nlp(text))  # lemmas included
    assert expected[3][4] == "cat"
    other = spacy.blank("en")
    other.add_pipe("bilstm_tagger")
    other.from_bytes(nlp.to_bytes())
    assert _tags(other(text)) == expected


def test_spacy_component_without_model_says_what_to_do(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(tmp_path / "missing")})
    with pytest.raises(ModelDirError, match="does not exist"):
        nlp("hello")


def test_spacy_component_registered_as_entry_point():
    names = {ep.name: ep.value for ep in entry_points(group="spacy_factories")}
    assert names.get("bilstm_tagger") == "bilstm_tagger.spacy_component:make_bilstm_tagger"


def test_spacy_component_scores(nlp, tiny_data):
    from spacy.training import Example

    examples = []
    for sentence in read_conllu(tiny_data):
        reference = Doc(nlp.vocab, words=sentence.forms, pos=[w.upos for w in sentence.words])
        examples.append(Example(nlp(Doc(nlp.vocab, words=sentence.forms)), reference))
    assert nlp.get_pipe("bilstm_tagger").score(examples)["pos_acc"] == 1.0


@pytest.mark.parametrize(
    "config_name, overrides",
    [
        ("hmm.cfg", {}),
        ("rnn_elman.cfg", {"model.word_dim": 8, "model.char_dim": 4, "model.char_hidden": 4, "model.hidden": 16,
                           "training.max_epochs": 2, "training.epoch_words": 0}),
        ("seq2seq_attention.cfg", {"model.word_dim": 8, "model.char_dim": 4, "model.char_hidden": 4,
                                   "model.hidden": 16, "model.tag_dim": 4, "training.max_epochs": 2,
                                   "training.epoch_words": 0}),
    ],
)
def test_spacy_component_every_model_kind(config_name, overrides, tiny_path, tmp_path):
    from bilstm_tagger import load_config, train

    from .conftest import CONFIGS, data_overrides

    config = load_config(CONFIGS / config_name, overrides={"system.device": "cpu", **data_overrides(tiny_path), **overrides})
    train(config, output_dir=tmp_path / "model", progress=False)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(tmp_path / "model")})
    texts = ["I like cats.", "Dogs bark loudly", ""]
    expected = [_tags(doc) for doc in nlp.pipe(texts)]
    assert expected == [_tags(nlp(text)) for text in texts]
    words = ["I", "like", "cats", "."]
    assert [t.pos_ for t in nlp(Doc(nlp.vocab, words=words))] == load_model(tmp_path / "model").tag([words])[0]["upos"]
    nlp.to_disk(tmp_path / "pipeline")
    assert [_tags(doc) for doc in spacy.load(tmp_path / "pipeline").pipe(texts)] == expected


def test_spacy_component_reads_its_model_once_on_spacy_load(nlp, tmp_path, monkeypatch):
    """spacy.load restores the model from the pipeline's copy only: the factory's path is not read as well."""
    import bilstm_tagger.spacy_component as component

    nlp.to_disk(tmp_path / "pipeline")
    calls = []
    original = component.read_model
    monkeypatch.setattr(component, "read_model", lambda path: calls.append(str(path)) or original(path))
    loaded = spacy.load(tmp_path / "pipeline")
    loaded("I like cats")
    assert len(calls) == 1 and calls[0].startswith(str(tmp_path / "pipeline"))


def test_spacy_component_keeps_tags_it_did_not_predict(tiny_path, tmp_path):
    """A model without XPOS leaves token.tag_ as it was; predicted attributes are overwritten."""
    from .conftest import train_tiny

    model = train_tiny(tmp_path / "upos-only", tiny_path, **{"training.targets": ["upos"]})
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(model)})
    doc = Doc(nlp.vocab, words=["I", "like", "cats"], tags=["X1", "X2", "X3"], pos=["X", "X", "X"])
    nlp(doc)
    assert [t.tag_ for t in doc] == ["X1", "X2", "X3"]
    assert [t.pos_ for t in doc] == load_model(model).tag([["I", "like", "cats"]])[0]["upos"]


@pytest.mark.gpu
def test_spacy_component_on_gpu_gives_cpu_tags(tiny_model, tiny_data):
    """With spacy.require_gpu() the component runs on CUDA (in fp32 and under bf16 autocast), stores plain
    strings on the Docs, and tags as on the CPU."""
    import numpy
    import torch

    sentences = [s.forms for s in read_conllu(tiny_data)] + [["I", "do", "n't", "like", "dogs", "."]]
    cpu = spacy.blank("en")
    cpu.add_pipe("bilstm_tagger", config={"model": str(tiny_model), "device": "cpu"})
    expected = [_tags(doc) for doc in cpu.pipe(Doc(cpu.vocab, words=w) for w in sentences)]
    spacy.require_gpu()
    try:
        for precision in ("fp32", "bf16"):
            nlp = spacy.blank("en")
            nlp.add_pipe("bilstm_tagger", config={"model": str(tiny_model), "precision": precision})
            docs = list(nlp.pipe(Doc(nlp.vocab, words=w) for w in sentences))
            assert nlp.get_pipe("bilstm_tagger").tagger.device.type == "cuda"
            assert [_tags(doc) for doc in docs] == expected
            # nothing of the GPU's is left on a Doc: its tensor is still spaCy's (empty) numpy array
            assert all(isinstance(doc.tensor, numpy.ndarray) for doc in docs)
        assert torch.cuda.is_available()
    finally:
        from thinc.api import NumpyOps, set_current_ops

        set_current_ops(NumpyOps())
