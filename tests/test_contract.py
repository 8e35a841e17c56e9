"""The model contract and the layers: inference options checked where they enter and against the family, defaults
written once (config file = builder = class), the table of targets, and imports that need no torch."""

from __future__ import annotations

import gc
import inspect

import json
import subprocess
import sys
import textwrap

import pytest

from bilstm_tagger import ConfigError, InferenceOptions, load_config, load_model, read_conllu, train
from bilstm_tagger.cli import main
from bilstm_tagger.inference.options import OptionError
from bilstm_tagger.registry import registry
from bilstm_tagger.targets import TARGETS
from bilstm_tagger.training.config import LemmatizerSettings, SystemSettings, TrainingSettings

from .conftest import CONFIGS, ROOT, data_overrides


@pytest.fixture(scope="module")
def hmm_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("hmm")
    from .conftest import TINY_CONLLU

    data = root / "tiny.conllu"
    data.write_text(TINY_CONLLU, encoding="utf-8")
    config = load_config(CONFIGS / "hmm.cfg", overrides=data_overrides(data))
    train(config, output_dir=root / "model", progress=False)
    return root / "model"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"precision": "fp64"}, "precision must be one of fp32, bf16, fp16, int8"),
        ({"device": "gpu"}, "unknown device 'gpu'"),
        ({"beam_size": 0}, "beam size must be at least 1"),
        ({"batch_words": 0}, "batch_words must be a positive integer"),
        ({"precision": "int8", "cached_projections": True}, "cached_projections is a float32 path"),
        ({"consistent_tags": "yes"}, "consistent_tags must be true, false or null"),
        ({"int8_steps": "yes"}, "int8_steps must be true, false or null"),
        ({"precision": "bf16", "int8_steps": True}, "int8_steps runs in the cached-projection path"),
        ({"cached_projections": False, "int8_steps": True}, "int8_steps runs in the cached-projection path"),
    ],
)
def test_options_wrong_values_are_refused_when_made(options, message):
    with pytest.raises(OptionError, match=message):
        InferenceOptions(**options)


def test_options_device_is_normalised():
    assert InferenceOptions(device=" CUDA:1 ").device == "cuda:1"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"precision": "int8"}, "precision 'int8' is not available for HMM models"),
        ({"device": "cuda"}, "HMM models run on cpu, not 'cuda'"),
        ({"beam_size": 2}, "beam_size is a decoding setting of seq2seq models; this model is HMM"),
        ({"cached_projections": False}, "cached_projections is an option of BiLSTM models; this model is HMM"),
        ({"int8_steps": False}, "int8_steps is an option of BiLSTM models; this model is HMM"),
        ({"consistent_tags": True}, "consistent_tags is a decoding setting of BiLSTM and RNN models; this model is HMM"),
    ],
)
def test_options_a_family_lacks_name_the_family(hmm_model, options, message):
    with pytest.raises(OptionError, match=message):
        load_model(hmm_model, InferenceOptions(**options))


def test_options_every_family_tags_in_fp32_on_auto(hmm_model, tiny_model, tiny_data):
    forms = [s.forms for s in read_conllu(tiny_data)]
    hmm = load_model(hmm_model, InferenceOptions(device="auto", precision="fp32"))
    assert hmm.device.type == "cpu" and len(hmm.tag(forms)) == len(forms)
    assert load_model(tiny_model, InferenceOptions(device="auto")).tag(forms) == load_model(tiny_model).tag(forms)


def test_options_cached_projections_off_gives_the_same_tags(tiny_model, tiny_data):
    forms = [s.forms for s in read_conllu(tiny_data)] + [["Unseen", "words", "!"]]
    default = load_model(tiny_model)
    plain = load_model(tiny_model, InferenceOptions(cached_projections=False))
    assert default.runtime.cache.encoding == "projection" and plain.runtime.cache.encoding == "embedding"
    assert plain.tag(forms) == default.tag(forms)


def test_tagging_pauses_the_cycle_collector_only_while_it_runs(tiny_model):
    tagger = load_model(tiny_model)
    seen = []
    tag_ids = tagger.runtime.tag_ids

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return tag_ids(*args, **kwargs)

    tagger.runtime.tag_ids = spy
    assert gc.isenabled()
    tags = tagger.tag([["Dogs", "bark", "."], [], ["Cats", "sleep"]])
    assert seen == [False] and gc.isenabled()
    assert [len(t["upos"]) for t in tags] == [3, 0, 2] and tags[0]["upos"] == tagger.tag([["Dogs", "bark", "."]])[0]["upos"]
    gc.disable()
    try:
        tagger.tag([["Dogs", "bark"]])
        assert not gc.isenabled()  # left off, as the caller had it
    finally:
        gc.enable()
    tagger.runtime.tag_ids = lambda *args, **kwargs: 1 / 0
    with pytest.raises(ZeroDivisionError):
        tagger.tag([["Dogs"]])
    assert gc.isenabled()  # an error inside still turns it back on


def test_options_cli_error_names_the_family(hmm_model, tiny_data, capsys):
    assert main(["predict", str(hmm_model), str(tiny_data), "--precision", "int8"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bilstm-tagger: error: precision 'int8' is not available for HMM models")
    assert "Traceback" not in err


def test_options_spacy_config_is_checked_when_the_pipe_is_added(hmm_model):
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    with pytest.raises(OptionError, match="precision must be one of"):
        nlp.add_pipe("bilstm_tagger", config={"model": str(hmm_model), "precision": "fp64"})
    nlp.add_pipe("bilstm_tagger", config={"model": str(hmm_model), "precision": "int8"})
    with pytest.raises(OptionError, match="not available for HMM models"):
        nlp("I like cats")


# -- defaults in one place ---------------------------------------------------------------------------------------

#: each family's reference config, whose [model] section must repeat the class defaults
FAMILY_CONFIGS = ["bilstm.cfg", "rnn.cfg", "seq2seq.cfg", "hmm.cfg"]


@pytest.mark.parametrize("config_name", FAMILY_CONFIGS)
def test_defaults_config_file_equals_builder_equals_class(config_name):
    import inspect

    section = dict(load_config(CONFIGS / config_name)["model"])
    builder = registry.architectures.get(section.pop("@architectures"))
    defaults = {name: p.default for name, p in inspect.signature(builder).parameters.items()}
    assert section == defaults


def test_defaults_training_and_system_sections_equal_their_dataclasses():
    import dataclasses

    config = load_config(CONFIGS / "bilstm.cfg")
    lemmatizer = dict(config["lemmatizer"])
    lemmatizer_model = dict(lemmatizer.pop("model"))
    defaults = {f.name: f.default for f in dataclasses.fields(LemmatizerSettings) if f.name != "model"}
    assert lemmatizer == defaults
    # [lemmatizer.model] repeats the lemmatizer's class defaults, as [model] does the family's
    builder = registry.architectures.get(lemmatizer_model.pop("@architectures"))
    assert lemmatizer_model == {name: p.default for name, p in inspect.signature(builder).parameters.items()}
    assert LemmatizerSettings().model == {"@architectures": "bilstm_tagger.Lemmatizer.v2"}
    for section, cls in (("training", TrainingSettings), ("system", SystemSettings)):
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        written = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in config[section].items()}
        assert written == {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}, section


@pytest.mark.parametrize(
    "override, message",
    [
        ({"system.sed": 1}, r"\[system\] has unknown setting\(s\) sed"),
        ({"system.device": "gpu"}, r"\[system\] unknown device 'gpu'"),
        ({"training.epochs": 3}, r"\[training\] has unknown setting\(s\) epochs"),
        ({"training.join_unsplit": "yes"}, r"\[training\] join_unsplit must be true or false, not 'yes'"),
    ],
)
def test_config_typos_are_refused(tiny_path, tmp_path, override, message):
    config = load_config(CONFIGS / "tiny.cfg", overrides={**data_overrides(tiny_path), **override})
    with pytest.raises(ConfigError, match=message):
        train(config, output_dir=tmp_path / "m", progress=False)


def test_cli_flags_are_config_overrides(tiny_path, tmp_path):
    out = tmp_path / "m"
    assert main(["train", str(CONFIGS / "tiny.cfg"), "--train", str(tiny_path), "--dev", str(tiny_path),
                 "--seed", "7", "--cpu", "--output", str(out), "--quiet", "--training.max_epochs", "1"]) == 0
    saved = load_config(out / "config.cfg")
    assert saved["paths"] == {"train": str(tiny_path), "dev": str(tiny_path)}
    assert saved["system"] == {"seed": 7, "device": "cpu", "deterministic": False}


# -- the table of targets ------------------------------------------------------------------------------------------


def test_targets_table_is_what_every_layer_uses(tiny_model, tiny_data):
    from bilstm_tagger.corpus import Word
    from bilstm_tagger.evaluation.scoring import MATCHES, METRICS

    fields = set(Word.__dataclass_fields__)
    for name, target in TARGETS.items():
        assert name in fields and target.metric in METRICS and target.metric in MATCHES
    sentence = read_conllu(tiny_data)[0]
    cells = sentence.lines[sentence.word_lines[0]].rstrip("\n").split("\t")
    assert {n: getattr(sentence.words[0], n) for n in TARGETS} == {n: t.read(cells[t.column]) for n, t in TARGETS.items()}
    assert load_model(tiny_model).targets == list(TARGETS)


# -- imports that match the layers ---------------------------------------------------------------------------------


def _modules_after(code: str) -> set:
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_layers_reading_scoring_and_the_hmm_import_no_torch():
    modules = _modules_after(
        """
        import bilstm_tagger
        import bilstm_tagger.corpus, bilstm_tagger.vocab, bilstm_tagger.targets, bilstm_tagger.serialization
        import bilstm_tagger.models.hmm, bilstm_tagger.models.base
        import bilstm_tagger.evaluation.scoring, bilstm_tagger.evaluation.comparison
        import bilstm_tagger.evaluation.rendering, bilstm_tagger.evaluation.significance
        import bilstm_tagger.inference.options, bilstm_tagger.training.config
        from bilstm_tagger import read_conllu, score
        """
    )
    assert "torch" not in modules and "spacy" not in modules


def test_layers_cli_help_and_scoring_files_import_no_torch(tiny_data, tmp_path):
    modules = _modules_after(
        f"""
        from bilstm_tagger.cli import main
        assert main(["--help"]) == 0
        assert main(["evaluate", "--gold", {str(tiny_data)!r}, "--pred", {str(tiny_data)!r},
                     "--output", {str(tmp_path / "r.html")!r}]) == 0
        """
    )
    assert "torch" not in modules and "spacy" not in modules
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_layers_loading_an_hmm_model_imports_no_torch_for_its_model(hmm_model):
    """Reading an HMM's directory builds it through its entry point: only its family's module."""
    modules = _modules_after(
        f"""
        from bilstm_tagger.serialization import read_model
        read_model({str(hmm_model)!r})
        """
    )
    assert "bilstm_tagger.models.hmm" in modules
    assert "torch" not in modules and "bilstm_tagger.models.bilstm" not in modules
