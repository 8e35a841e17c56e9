"""Tagging with Ray Data on a local 2-CPU cluster: the same tags as one process, every shard once, a dying actor
retried, a bad shard named. Skipped without the [ray] extra."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from bilstm_tagger import load_model  # noqa: E402
from bilstm_tagger.errors import BilstmTaggerError  # noqa: E402
from bilstm_tagger.inference.prediction import predict_file  # noqa: E402
from bilstm_tagger.ray_tagging import ShardTagger, tag_dataset, tag_shards  # noqa: E402

from .conftest import TINY_CONLLU  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture
def shards(tmp_path: Path, tiny_data: Path) -> Path:
    """Three shards: two CoNLL-U (the tiny file, and its sentences reversed) and one pre-tokenized text."""
    directory = tmp_path / "in"
    directory.mkdir()
    blocks = TINY_CONLLU.strip().split("\n\n")
    (directory / "a.conllu").write_text(TINY_CONLLU, encoding="utf-8")
    (directory / "b.conllu").write_text("\n\n".join(reversed(blocks)) + "\n\n", encoding="utf-8")
    (directory / "c.txt").write_text("The dogs sleep .\nI like cats\n", encoding="utf-8")
    return directory


def _expected(model: Path, shards: Path, tmp_path: Path) -> dict:
    tagger = load_model(model)
    expected = {}
    for shard in sorted(shards.iterdir()):
        out = tmp_path / "expected" / (shard.stem + ".conllu")
        out.parent.mkdir(exist_ok=True)
        predict_file(tagger, input_path=shard, output_path=out)
        expected[out.name] = out.read_bytes()
    return expected


def test_a_dataset_of_sentences_gets_the_tags_of_one_process(cluster, tiny_model: Path, tiny_data: Path):
    from bilstm_tagger import read_conllu

    sentences = [s.forms for s in read_conllu(tiny_data)] * 5
    dataset = ray.data.from_items([{"id": i, "forms": forms} for i, forms in enumerate(sentences)])
    rows = tag_dataset(dataset, model_dir=tiny_model, actors=2, batch_size=3).take_all()
    expected = load_model(tiny_model).tag(sentences)
    assert sorted(row["id"] for row in rows) == list(range(len(sentences)))
    for row in rows:
        for target in ("upos", "xpos", "feats", "lemma"):
            assert list(row[target]) == expected[row["id"]][target]


def test_every_shard_is_written_once_as_one_process_writes_it(cluster, tiny_model, shards, tmp_path):
    out = tmp_path / "out"
    records = tag_shards(model_dir=tiny_model, input_dir=shards, output_dir=out, actors=2)
    assert [Path(r["path"]).name for r in records] == ["a.conllu", "b.conllu", "c.txt"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == _expected(tiny_model, shards, tmp_path)
    assert records[0]["words"] == records[1]["words"] > 0


class DiesOnce(ShardTagger):
    """An actor whose process dies on its first shard (the marker file says it already did)."""

    def __call__(self, batch):
        marker = self.output_dir.parent / "died"
        if not marker.exists():
            marker.touch()
            os._exit(1)
        return super().__call__(batch)


def test_a_dying_actor_is_restarted_and_its_shard_tagged_again(cluster, tiny_model, shards, tmp_path):
    out = tmp_path / "out"
    tag_shards(model_dir=tiny_model, input_dir=shards, output_dir=out, actors=1, shard_tagger=DiesOnce)
    assert (tmp_path / "died").exists()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == _expected(tiny_model, shards, tmp_path)


def test_a_bad_shard_is_named_with_its_line(cluster, tiny_model, shards, tmp_path):
    (shards / "b.conllu").write_text("1\tcats\n", encoding="utf-8")
    with pytest.raises(BilstmTaggerError, match=r"b\.conllu:1: expected 10 tab-separated columns"):
        tag_shards(model_dir=tiny_model, input_dir=shards, output_dir=tmp_path / "out", actors=1)


def test_an_empty_input_directory_is_an_error(tiny_model, tmp_path):
    with pytest.raises(BilstmTaggerError, match="no .conllu or .txt shards"):
        tag_shards(model_dir=tiny_model, input_dir=tmp_path, output_dir=tmp_path / "out")


def test_a_missing_model_is_named_before_any_actor_starts(shards, tmp_path):
    from bilstm_tagger.errors import ModelDirError

    with pytest.raises(ModelDirError, match="no such model directory"):
        tag_shards(model_dir=tmp_path / "nowhere", input_dir=shards, output_dir=tmp_path / "out")


def test_predict_ray_writes_a_shard_per_input_shard(cluster, tiny_model, shards, tmp_path, capsys):
    from bilstm_tagger.cli import main

    out = tmp_path / "out"
    assert main(["predict", str(tiny_model), str(shards), "-o", str(out), "--ray", "auto", "--actors", "2"]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == _expected(tiny_model, shards, tmp_path)
    assert "in 3 shards" in capsys.readouterr().err


def test_predict_ray_needs_an_output_directory(tiny_model, shards, capsys):
    from bilstm_tagger.cli import main

    assert main(["predict", str(tiny_model), str(shards), "--ray", "auto"]) == 1
    assert "give the output directory as --output" in capsys.readouterr().err
