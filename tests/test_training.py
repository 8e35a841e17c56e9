"""Training behaviour beyond the model contract: targets that follow the data, atomic writes, GPU round trip."""

from __future__ import annotations

import json

import pytest
import torch

from bilstm_tagger import ConfigError, InferenceOptions, load_config, load_model, read_conllu, train
from bilstm_tagger.files import atomic_open
from bilstm_tagger.inference.prediction import predict_file
from bilstm_tagger.models.int8 import KeptWeights
from bilstm_tagger.training.steps import adam

from .conftest import CONFIGS, TINY_CONLLU, data_overrides, train_tiny


def _without_column(text: str, index: int) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        cells = line.split("\t")
        if len(cells) == 10 and cells[0].isdigit():
            cells[index] = "_"
        lines.append("\t".join(cells))
    return "".join(lines)


def test_training_skips_targets_the_data_lacks(tmp_path):
    data = tmp_path / "no_xpos_no_feats.conllu"
    data.write_text(_without_column(_without_column(_without_column(TINY_CONLLU, 4), 5), 2), encoding="utf-8")
    tagger = load_model(train_tiny(tmp_path / "model", data, **{"training.max_epochs": 2}))
    assert tagger.targets == ["upos"]
    best_dev = tagger.meta["best_dev"]
    assert best_dev["upos"] is not None and best_dev["xpos"] is None and best_dev["ufeats"] is None
    out = tmp_path / "pred.conllu"
    predict_file(tagger, input_path=data, output_path=out)
    for sentence in read_conllu(out):
        assert all(w.xpos is None and w.feats == "_" and w.lemma is None for w in sentence.words)  # never invented


def test_training_config_targets_subset(tiny_path, tmp_path):
    tagger = load_model(train_tiny(tmp_path / "m", tiny_path, **{"training.max_epochs": 1, "training.targets": ["upos"]}))
    assert tagger.targets == ["upos"]


def test_training_rejects_unknown_target(tiny_path, tmp_path):
    with pytest.raises(ConfigError, match="targets must be a non-empty subset"):
        train_tiny(tmp_path / "m", tiny_path, **{"training.targets": ["lemmas"]})


def test_training_epoch_is_whole_passes_of_at_least_epoch_words(tiny_path, tmp_path):
    n_words = sum(len(s) for s in read_conllu(tiny_path))
    out = train_tiny(tmp_path / "m", tiny_path, **{"training.max_epochs": 2, "training.epoch_words": 2 * n_words + 1,
                                                   "training.targets": ["upos"]})
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [record["words"] for record in log] == [3 * n_words, 3 * n_words]


def test_training_stops_early_without_improvement(tiny_path, tmp_path):
    # memorised after a few epochs: dev (= train) cannot improve any more, so patience ends the run
    config = load_config(CONFIGS / "tiny.cfg", overrides={"training.max_epochs": 200, "training.patience": 2,
                                                         "training.learning_rate": 0.02, "model.dropout": 0.0,
                                                         **data_overrides(tiny_path)})
    result = train(config, output_dir=tmp_path / "m", progress=False)
    assert result.epochs < 200 and result.epochs - result.best_epoch == 2
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert (meta["stopped"], meta["epochs"], result.warnings) == ("patience", result.epochs, ())


def test_linear_run_is_max_epochs_long_whatever_patience(tiny_path, tmp_path):
    # the memorised set of the test above, where patience 2 ends a plateau run: a linear run's last, lowest-rate
    # epochs are its point, so it goes on to max_epochs
    config = load_config(CONFIGS / "tiny.cfg", overrides={"training.max_epochs": 16, "training.patience": 2,
                                                         "training.schedule": "linear", "training.decay_start": 0.5,
                                                         "training.learning_rate": 0.02, "model.dropout": 0.0,
                                                         "training.targets": ["upos"], **data_overrides(tiny_path)})
    result = train(config, output_dir=tmp_path / "m", progress=False)
    assert result.epochs == 16 and result.epochs - result.best_epoch > 2
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert (meta["stopped"], meta["epochs"], result.warnings) == ("max_epochs", 16, ())


def test_a_run_the_time_cap_cuts_short_says_so(tiny_path, tmp_path, capsys):
    from bilstm_tagger.cli import main

    # a cap far below one epoch's time, spent before the tagger starts: it still trains one batch, so that there is a
    # model to write; the lemmatizer stops after its first epoch
    args = ["train", str(CONFIGS / "tiny.cfg"), "--train", str(tiny_path), "--dev", str(tiny_path), "--quiet",
            "--output", str(tmp_path / "m"), "--training.max_minutes", "1e-6", "--training.batch_words", "8",
            "--lemmatizer.max_minutes", "1e-6", "--lemmatizer.schedule", "linear", "--training.schedule", "linear"]
    assert main(args) == 0
    err = capsys.readouterr().err
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert (meta["stopped"], meta["epochs"]) == ("max_minutes", 1)
    assert len(load_model(tmp_path / "m").tag([["The", "dog", "barks", "."]])[0]["upos"]) == 4  # a model that tags
    assert (meta["lemmatizer"]["stopped"], meta["lemmatizer"]["epochs"]) == ("max_minutes", 1)
    for section in ("training", "lemmatizer"):
        [line] = [line for line in err.splitlines() if line.startswith(f"bilstm-tagger: warning: [{section}] ")]
        assert f"[{section}] max_minutes = 1e-06 stopped the run before max_epochs = " in line
        assert 'before the "linear" schedule had lowered the learning rate to 0' in line


def test_linear_schedule_keeps_the_rate_then_lowers_it_to_zero(tiny_path, tmp_path):
    # patience would halve a "plateau" rate after a bad epoch; the linear schedule ignores dev and lr_decay
    out = train_tiny(tmp_path / "m", tiny_path, **{
        "training.max_epochs": 4, "training.patience": 10, "training.schedule": "linear", "training.decay_start": 0.5,
        "training.learning_rate": 0.01, "training.lr_decay": 0.1, "training.targets": ["upos"],
        "training.batch_words": 8,  # several batches per epoch
    })
    rates = [json.loads(line)["lr"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert rates[:2] == [0.01, 0.01]  # the rate of each epoch's last batch
    assert 0.01 > rates[2] > rates[3] > 0 and rates[3] < 0.01 / 4  # the last batch of all: almost 0
    for bad, message in (({"training.schedule": "cosine"}, "schedule must be one of"),
                         ({"training.decay_start": 1.0}, "decay_start must be at least 0 and below 1"),
                         ({"lemmatizer.schedule": "steps"}, "schedule must be one of")):
        with pytest.raises(ConfigError, match=message):
            train_tiny(tmp_path / "bad", tiny_path, **bad)


def test_adam_steps_mark_the_parameters_changed():
    # the fused kernel writes the weights behind autograd's back: without the hook, values kept from them (the int8
    # copies dev is tagged with, int8.KeptWeights) would stay those of the first epoch
    layer = torch.nn.Linear(3, 2)
    optimizer = adam(layer.parameters(), learning_rate=0.1)
    kept = KeptWeights()
    before = kept.get("copy", list(layer.parameters()), lambda: layer.weight.detach().clone())
    layer(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    after = kept.get("copy", list(layer.parameters()), lambda: layer.weight.detach().clone())
    assert not torch.equal(before, after) and torch.equal(after, layer.weight.detach())


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("finished work")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("half of the new")
            raise RuntimeError("interrupted")
    assert target.read_text() == "finished work"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]  # no temporary file left behind


@pytest.mark.gpu
def test_training_on_gpu_loads_on_cpu(tiny_path, tmp_path):
    model_dir = train_tiny(tmp_path / "gpu", tiny_path, **{"system.device": "cuda", "training.max_epochs": 30})
    on_cpu = load_model(model_dir, InferenceOptions(device="cpu"))
    assert all(t.device.type == "cpu" for t in on_cpu.model.state_dict().values())
    on_gpu = load_model(model_dir, InferenceOptions(device="cuda"))
    forms = [s.forms for s in read_conllu(tiny_path)]
    assert on_cpu.tag(forms) == on_gpu.tag(forms)
    assert torch.cuda.is_available()


def test_atomic_write_gives_the_permissions_of_a_plain_open(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "report.md") as handle:
            handle.write("x")
        (tmp_path / "plain.md").write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == (tmp_path / "plain.md").stat().st_mode & 0o777 == 0o644


def test_joined_sentences_keep_every_word_once_in_order(tiny_path):
    import random

    from bilstm_tagger.training.loop import _training_sequences

    sentences = read_conllu(tiny_path) * 5
    assert _training_sequences(sentences, 0.0, random.Random(0)) == sentences
    for join in (0.5, 1.0):
        sequences = _training_sequences(sentences, join, random.Random(0))
        assert [w for s in sequences for w in s.words] == [w for s in sentences for w in s.words]
        assert all(len(s) in {len(a) for a in sentences} or len(s) in {len(a) + len(b) for a, b in
                                                                          zip(sentences, sentences[1:])}
                   for s in sequences)
    assert len(_training_sequences(sentences, 1.0, random.Random(0))) == len(sentences) // 2


def test_sentences_the_splitter_leaves_together_are_trained_as_one_sequence(tiny_path):
    import random

    from bilstm_tagger.segmentation import SentenceSplitter
    from bilstm_tagger.training.loop import _training_sequences, _unsplit_pairs

    sentences = read_conllu(tiny_path) * 5
    splitter = SentenceSplitter.fit([s.forms for s in sentences])
    unsplit = _unsplit_pairs(sentences, splitter)
    assert unsplit == [len(a) not in {start for start, _ in splitter.spans(a.forms + b.forms)}
                       for a, b in zip(sentences, sentences[1:])]
    assert _unsplit_pairs(sentences, None) == []
    unsplit = [i % 3 == 0 for i in range(len(sentences) - 1)]  # pairs 0-1, 3-4, 6-7, ...: 2, 5, 8, ... alone
    sequences = _training_sequences(sentences, 0.0, random.Random(0), unsplit)
    expected = [sentences[i].words + sentences[i + 1].words if i % 3 == 0 else sentences[i].words
                for i in range(len(sentences)) if i % 3 != 1]
    assert [s.words for s in sequences] == expected


def test_meta_records_how_many_pairs_the_splitter_left_together(tiny_model, tiny_data, tiny_path, tmp_path,
                                                                monkeypatch):
    from bilstm_tagger.segmentation import SentenceSplitter
    from bilstm_tagger.training.loop import _unsplit_pairs

    def meta(model):
        return json.loads((model / "meta.json").read_text(encoding="utf-8"))["splitter"]

    splitter = load_model(tiny_model).trained.splitter
    assert meta(tiny_model)["unsplit_pairs"] == sum(_unsplit_pairs(read_conllu(tiny_data), splitter))
    # a splitter that separates nothing: every pair of the file is trained as one sequence, and counted
    monkeypatch.setattr(SentenceSplitter, "separates", lambda self, first, second: False)
    model = train_tiny(tmp_path / "joined", tiny_path)
    assert meta(model)["unsplit_pairs"] == len(read_conllu(tiny_path)) - 1
    assert "unsplit_pairs" not in meta(train_tiny(tmp_path / "off", tiny_path, **{"training.join_unsplit": False}))


def test_training_on_joined_sentences_still_tags_single_sentences(tiny_path, tmp_path):
    model = train_tiny(tmp_path / "joined", tiny_path, **{"training.join_sentences": 0.5})
    sentences = read_conllu(tiny_path)
    tags = load_model(model).tag([s.forms for s in sentences])
    gold = [w.upos for s in sentences for w in s.words]
    got = [t for sentence in tags for t in sentence["upos"]]
    assert sum(g == p for g, p in zip(gold, got)) / len(gold) > 0.9
