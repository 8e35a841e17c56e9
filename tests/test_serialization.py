"""The model directory: every part checked on loading, clear errors, and no unpickling."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil

import pytest
import torch

from bilstm_tagger import ModelDirError, load_model
from bilstm_tagger.serialization import read_meta


@pytest.fixture
def model_copy(tiny_model, tmp_path):
    return shutil.copytree(tiny_model, tmp_path / "model")


@pytest.mark.parametrize("part", ["config.cfg", "vocab.json", "labels.json", "model.safetensors", "meta.json"])
def test_serialization_missing_part_is_named(model_copy, part):
    (model_copy / part).unlink()
    with pytest.raises(ModelDirError, match=f"missing {part}"):
        load_model(model_copy)


def test_serialization_corrupt_weights_detected(model_copy):
    data = bytearray((model_copy / "model.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (model_copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelDirError, match="model.safetensors: does not match the checksum"):
        load_model(model_copy)


def test_serialization_corrupt_json_detected(model_copy):
    (model_copy / "meta.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelDirError, match="meta.json: corrupt JSON"):
        load_model(model_copy)


def test_serialization_config_that_does_not_fit_the_weights(model_copy):
    config = (model_copy / "config.cfg").read_text(encoding="utf-8").replace("hidden = 64", "hidden = 65")
    (model_copy / "config.cfg").write_text(config, encoding="utf-8")
    meta = json.loads((model_copy / "meta.json").read_text())
    # an edited config whose checksum was updated too, not a corrupt one
    meta["parts"]["config.cfg"] = hashlib.sha256((model_copy / "config.cfg").read_bytes()).hexdigest()
    (model_copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelDirError, match="weights do not fit the model"):
        load_model(model_copy)


def test_serialization_not_a_model_dir(tmp_path):
    with pytest.raises(ModelDirError, match="no such model directory"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelDirError, match="not a complete model directory"):
        load_model(tmp_path / "empty")


def test_serialization_loading_never_unpickles(model_copy, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    tagger = load_model(model_copy)
    assert tagger.tag([["cats"]])[0]["upos"] == ["NOUN"]


def test_serialization_meta_records_parts_and_scores(tiny_model):
    meta = read_meta(tiny_model)
    assert set(meta["parts"]) == {"config.cfg", "vocab.json", "labels.json", "model.safetensors", "lemmatizer.json",
                                  "lemmatizer.safetensors", "splitter.json"}
    assert 0 < meta["splitter"]["threshold"] < 1
    assert meta["format_version"] == 2  # splitter.json is format 2's: a version that reads only 1 says to upgrade
    assert meta["best_dev"]["upos"] == 100.0
    assert meta["best_epoch"] >= 1
