"""Evaluation figures against a hand-computed example, and agreement with the official CoNLL 2018 evaluator."""

from __future__ import annotations

import textwrap

import pytest

from bilstm_tagger import load_model, read_conllu
from bilstm_tagger.evaluation import accuracies, evaluate_model, format_report, score, universal_feats
from bilstm_tagger.prediction import predict_file

from .conftest import ROOT

GOLD = textwrap.dedent(
    """\
    1	a	_	NOUN	NN	Number=Sing	0	root	_	_
    2	b	_	VERB	VB	_	1	dep	_	_
    3	c	_	NOUN	_	Number=Sing|Typo=Yes	1	dep	_	_
    4	d	_	PUNCT	.	_	1	punct	_	_

    1	b	_	VERB	VB	VerbForm=Fin|Mood=Ind	0	root	_	_
    2	e	_	ADJ	JJ	Degree=Pos	1	dep	_	_

    """
)
PREDICTED = [
    {
        "upos": ["NOUN", "NOUN", "NOUN", "PUNCT"],
        "xpos": ["NN", "NN", "NN", "."],
        "feats": ["Number=Sing|NumForm=Word", "_", "Number=Sing", "Number=Plur"],
    },
    {"upos": ["VERB", "NOUN"], "xpos": ["VB", "NN"], "feats": ["Mood=Ind|VerbForm=Fin", "Degree=Pos"]},
]


@pytest.fixture
def report(tmp_path):
    path = tmp_path / "gold.conllu"
    path.write_text(GOLD, encoding="utf-8")
    return score(read_conllu(path), PREDICTED, train_forms={"a", "b"})


def _acc(group, name):
    return group["metrics"][name]["accuracy"]


def test_evaluation_overall_figures(report):
    assert report["n_words"] == 6
    assert _acc(report, "upos") == pytest.approx(100 * 4 / 6, abs=1e-3)
    # XPOS "_" on "c" is unannotated: 3 right of 5
    assert report["metrics"]["xpos"] == {"correct": 3, "total": 5, "accuracy": 60.0}
    # NumForm and Typo are not universal features: only "d" is wrong
    assert _acc(report, "ufeats") == pytest.approx(100 * 5 / 6, abs=1e-3)
    # exact FEATS: "b" (both empty), "b" (order differs only) and "e" are right
    assert report["metrics"]["feats_exact"]["correct"] == 3
    assert report["metrics"]["alltags"]["correct"] == 3


def test_evaluation_seen_and_unseen(report):
    assert report["seen"]["n_words"] == 3 and report["unseen"]["n_words"] == 3
    assert report["seen"]["metrics"]["upos"]["correct"] == 2
    assert report["unseen"]["metrics"]["upos"]["correct"] == 2


def test_evaluation_per_tag_table(report):
    rows = {row["tag"]: row for row in report["per_upos"]}
    assert set(rows) == {"ADJ", "NOUN", "PUNCT", "VERB"}
    assert rows["NOUN"]["precision"] == 50.0 and rows["NOUN"]["recall"] == 100.0
    assert rows["NOUN"]["f1"] == pytest.approx(66.6667, abs=1e-3) and rows["NOUN"]["support"] == 2
    assert rows["VERB"]["precision"] == 100.0 and rows["VERB"]["recall"] == 50.0
    assert rows["ADJ"] == {"tag": "ADJ", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert rows["PUNCT"]["f1"] == 100.0


def test_evaluation_text_rendering(report):
    text = format_report(report)
    assert "UPOS" in text and "66.67" in text and "unseen in training (3 words)" in text


def test_evaluation_universal_feats():
    assert universal_feats("Typo=Yes|Number=Sing|ExtPos=ADP|Case=Nom") == "Case=Nom|Number=Sing"
    assert universal_feats("_") == universal_feats(None) == ""


def test_evaluation_missing_target_counts_as_wrong(tmp_path):
    path = tmp_path / "gold.conllu"
    path.write_text(GOLD, encoding="utf-8")
    only_upos = [{"upos": p["upos"]} for p in PREDICTED]
    result = score(read_conllu(path), only_upos)
    assert result["metrics"]["xpos"]["correct"] == 0
    assert "seen" not in result


def test_evaluation_agrees_with_official_conll18_evaluator(tiny_model, tmp_path):
    udeval = pytest.importorskip("udtools.udeval")
    gold_path = ROOT / "data" / "en_ewt-sample-test.conllu"
    tagger = load_model(tiny_model)
    out = tmp_path / "pred.conllu"
    predict_file(tagger, input_path=gold_path, output_path=out)
    official = udeval.evaluate(udeval.load_conllu_file(str(gold_path)), udeval.load_conllu_file(str(out)))
    ours = evaluate_model(tagger, gold_path)
    for name, official_name in [("upos", "UPOS"), ("xpos", "XPOS"), ("ufeats", "UFeats"), ("alltags", "AllTags")]:
        assert official[official_name].correct == ours["metrics"][name]["correct"], name
        assert official[official_name].gold_total == ours["metrics"][name]["total"], name
    # a tagger trained on four sentences gets plenty wrong, so the agreement above is not trivial
    assert ours["metrics"]["upos"]["accuracy"] < 90


def test_evaluation_untagged_words_are_wrong_even_for_empty_feats(tmp_path):
    path = tmp_path / "gold.conllu"
    path.write_text(GOLD, encoding="utf-8")
    # unconstrained seq2seq decoding stopped after one word of each sentence
    cut = [{t: v[:1] + [None] * (len(v) - 1) for t, v in p.items()} for p in PREDICTED]
    result = score(read_conllu(path), cut)
    assert result["metrics"]["upos"]["correct"] == 2  # "a" and "b" (first words) only
    assert result["metrics"]["ufeats"]["correct"] == 2  # "b"/"_" in sentence 1 is untagged: wrong


def test_evaluation_by_sentence_length(report):
    buckets = {b["bucket"]: b for b in report["by_length"]}
    assert list(buckets) == ["1-10", "11-20", "21-30", "31-50", "51+"]
    assert buckets["1-10"]["n_sentences"] == 2 and buckets["1-10"]["n_words"] == 6
    assert buckets["1-10"]["metrics"]["upos"]["correct"] == 4
    assert buckets["51+"]["n_words"] == 0 and buckets["51+"]["metrics"]["upos"]["accuracy"] is None


def test_evaluation_accuracies_mark_untrained_targets(report):
    assert accuracies(report["metrics"], ["upos", "xpos", "feats"])["alltags"] == 50.0
    only_tags = accuracies(report["metrics"], ["upos", "xpos"])
    assert only_tags["upos"] == report["metrics"]["upos"]["accuracy"]
    assert only_tags["ufeats"] is None and only_tags["feats_exact"] is None and only_tags["alltags"] is None
