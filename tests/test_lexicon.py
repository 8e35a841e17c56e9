"""The lexicon: word clusters and frequencies per form, looked up by hash, saved with the model, read by the tagger."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import spacy
from spacy.tokens import Doc

from bilstm_tagger import ConfigError, ModelDirError, load_model, read_conllu
from bilstm_tagger.files import sha256_file
from bilstm_tagger.lexicon import FREQUENCY_BUCKETS, Lexicon, language_of, training_lexicon
from bilstm_tagger.serialization import LEXICON_FILE, read_meta

from .conftest import train_tiny

CLUSTERS = {"Bush": 110, "bush": 7, "the": 3, "The": 3}
LOG_PROBABILITIES = {"Bush": -10.2, "bush": -11.7, "the": -3.5, "rare": -40.0}


def test_ids_read_the_form_and_its_lower_case():
    lexicon = Lexicon.from_tables(CLUSTERS, LOG_PROBABILITIES)
    ids = lexicon.ids(["Bush", "BUSH", "the", "rare", "unknown"])
    cluster = {name: i for i, name in enumerate(sorted(set(CLUSTERS.values())), start=1)}
    assert lexicon.n_clusters == len(cluster) + 1
    assert ids.tolist() == [
        [cluster[110], cluster[7], 10, 12],
        [0, cluster[7], 0, 12],  # "BUSH" itself is not in the lexicon, its lower case is
        [cluster[3], cluster[3], 4, 4],
        [0, 0, FREQUENCY_BUCKETS - 1, FREQUENCY_BUCKETS - 1],  # rarer than the last bucket: the last
        [0, 0, 0, 0],
    ]
    assert lexicon.ids([]).shape == (0, 4)


def test_saved_lexicon_reads_back_the_same_ids(tmp_path):
    lexicon = Lexicon.from_tables(CLUSTERS, LOG_PROBABILITIES, source="test")
    path = tmp_path / "lexicon.npz"
    path.write_bytes(lexicon.to_bytes())
    again = Lexicon.load(path)
    forms = ["Bush", "bush", "The", "x"]
    assert np.array_equal(again.ids(forms), lexicon.ids(forms))
    assert (again.n_clusters, again.source, len(again)) == (lexicon.n_clusters, "test", len(lexicon))


@pytest.mark.parametrize("content", [b"not a zip", b""])
def test_a_file_that_is_not_a_lexicon_is_named(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="cannot be read as a lexicon"):
        training_lexicon(str(path), "en_ewt-ud-train.conllu")


def test_auto_reads_the_language_of_ud_file_names_only():
    assert language_of("en_ewt-ud-train.conllu") == "en"
    assert language_of(Path("x") / "de_gsd-dev-first90.conllu") == "de"
    assert language_of("tiny.conllu") is None
    assert training_lexicon("auto", "tiny.conllu") is None
    assert training_lexicon(None, "en_ewt-ud-train.conllu") is None


def test_a_language_without_tables_is_a_config_error(tiny_path, tmp_path):
    with pytest.raises(ConfigError, match=r"lexicon: no lexicon for language 'xx'"):
        train_tiny(tmp_path / "model", tiny_path, **{"training.lexicon": "xx", "training.max_epochs": 1})


def _cluster_data(rng: random.Random, n_words: int) -> tuple:
    """Sentences in which a word's tag is told by its cluster alone: every word of both classes stands in the same
    contexts, and its letters are random."""
    letters = "bcdfghjklmnpqrstvwxz"
    words = {tag: ["".join(rng.choice(letters) for _ in range(5)) for _ in range(n_words)] for tag in ("NOUN", "ADJ")}
    lines = []
    for n in range(3):
        for tag, forms in words.items():
            for form in forms:
                lines.append([("look", "VERB"), (form, tag), (".", "PUNCT")])
    rng.shuffle(lines)
    text = "".join(
        "".join(f"{i}\t{form}\t_\t{tag}\t_\t_\t_\t_\t_\t_\n" for i, (form, tag) in enumerate(line, start=1)) + "\n"
        for line in lines
    )
    return words, text


def test_an_unseen_word_is_tagged_by_its_cluster_and_the_model_reloads_it(tmp_path):
    rng = random.Random(0)
    words, text = _cluster_data(rng, 8)
    unseen = {"NOUN": "qqvvn", "ADJ": "qqvva"}  # never in training, letters alike: only the cluster differs
    clusters = {form: 1 if tag == "NOUN" else 2 for tag, forms in words.items() for form in forms}
    clusters.update({unseen["NOUN"]: 1, unseen["ADJ"]: 2})
    lexicon_path = tmp_path / "clusters.npz"
    lexicon_path.write_bytes(Lexicon.from_tables(clusters, {}).to_bytes())
    data = tmp_path / "clusters.conllu"
    data.write_text(text, encoding="utf-8")
    model_dir = train_tiny(
        tmp_path / "model", data,
        **{"training.lexicon": str(lexicon_path), "training.targets": ["upos"], "training.word_dropout": 1.0,
           "training.max_epochs": 30},
    )
    assert LEXICON_FILE in read_meta(model_dir)["parts"]
    tagger = load_model(model_dir)
    sentences = [["look", unseen["NOUN"], "."], ["look", unseen["ADJ"], "."]]
    tags = [tagged["upos"][1] for tagged in tagger.tag(sentences)]
    assert tags == ["NOUN", "ADJ"]
    # the same model, read again from its directory, and each sentence alone: the same tags
    again = load_model(model_dir)
    assert [again.tag([s])[0]["upos"][1] for s in sentences] == tags
    gold = read_conllu(data)
    forms = [s.forms for s in gold]
    assert [t["upos"] for t in again.tag(forms)] == [t["upos"] for t in tagger.tag(forms)]
    # through spaCy, and a pipeline saved with the model's lexicon in its own folder
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(model_dir)})
    docs = [Doc(nlp.vocab, words=words) for words in sentences]
    assert [doc[1].pos_ for doc in nlp.pipe(docs)] == tags
    nlp.to_disk(tmp_path / "pipeline")
    assert (tmp_path / "pipeline" / "bilstm_tagger" / LEXICON_FILE).is_file()
    loaded = spacy.load(tmp_path / "pipeline")
    assert [loaded(Doc(loaded.vocab, words=words))[1].pos_ for words in sentences] == tags
    # a lexicon file replaced by something else, its checksum updated to match: named, not a traceback
    damaged = tmp_path / "damaged"
    shutil.copytree(model_dir, damaged)
    (damaged / LEXICON_FILE).write_bytes(b"PK\x03\x04 not really a zip")
    meta = json.loads((damaged / "meta.json").read_text())
    meta["parts"][LEXICON_FILE] = sha256_file(damaged / LEXICON_FILE)
    (damaged / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelDirError, match=r"lexicon\.npz: not a lexicon"):
        load_model(damaged)


def test_spacy_lookups_tables_are_built_once_then_read_from_the_cache(tmp_path, monkeypatch):
    import gzip
    import json
    import sys
    import types

    import bilstm_tagger.lexicon as lexicon_module

    package = tmp_path / "spacy_lookups_data"
    (package / "data").mkdir(parents=True)
    for name, table in (("cluster", CLUSTERS), ("prob", LOG_PROBABILITIES)):
        with gzip.open(package / "data" / f"xx_lexeme_{name}.json.gz", "wt", encoding="utf-8") as handle:
            json.dump(table, handle)
    fake = types.ModuleType("spacy_lookups_data")
    fake.__file__ = str(package / "__init__.py")
    monkeypatch.setitem(sys.modules, "spacy_lookups_data", fake)
    monkeypatch.setattr(lexicon_module.importlib.metadata, "version", lambda name: "9.9")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    built = training_lexicon("auto", "xx_test-ud-train.conllu")
    assert built is not None and built.source == "spacy-lookups-data 9.9:xx"
    assert list((tmp_path / "cache" / "bilstm-tagger").glob("*.npz"))
    for table in (package / "data").iterdir():
        table.unlink()  # now only the cache can answer
    again = training_lexicon("xx", "whatever.conllu")
    assert np.array_equal(again.ids(["Bush", "bush", "x"]), built.ids(["Bush", "bush", "x"]))
    with pytest.raises(ValueError, match="no lexicon for language 'yy'"):
        training_lexicon("yy", "whatever.conllu")
    assert training_lexicon("auto", "yy_test-ud-train.conllu") is None  # auto: none where there are no tables
