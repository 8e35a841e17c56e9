"""Evaluation figures against a hand-computed example, and agreement with the official CoNLL 2018 evaluator."""

from __future__ import annotations

import textwrap

import pytest

from bilstm_tagger import load_model, read_conllu
from bilstm_tagger.corpus import write_conllu
from bilstm_tagger.evaluation.scoring import accuracies, evaluate_file, score, universal_feats
from bilstm_tagger.inference.prediction import evaluate_model, predict_file

from .conftest import ROOT

GOLD = textwrap.dedent(
    """\
    # sent_id = email-1
    1	a	_	NOUN	NN	Number=Sing	0	root	_	_
    2	b	_	VERB	VB	_	1	dep	_	_
    3	c	_	NOUN	_	Number=Sing|Typo=Yes	1	dep	_	_
    4	d	_	PUNCT	.	_	1	punct	_	_

    # sent_id = reviews-2
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
    assert {k: report["metrics"]["xpos"][k] for k in ("correct", "total", "accuracy")} == {
        "correct": 3, "total": 5, "accuracy": 60.0
    }
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
    rows = {row["tag"]: row for row in report["per_tag"]["upos"]}
    assert set(rows) == {"ADJ", "NOUN", "PUNCT", "VERB"}
    assert rows["NOUN"]["precision"] == 50.0 and rows["NOUN"]["recall"] == 100.0
    assert rows["NOUN"]["f1"] == pytest.approx(66.6667, abs=1e-3) and rows["NOUN"]["support"] == 2
    assert rows["VERB"]["precision"] == 100.0 and rows["VERB"]["recall"] == 50.0
    assert rows["ADJ"] == {"tag": "ADJ", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert rows["PUNCT"]["f1"] == 100.0


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
    # the same files through `evaluate --gold --pred`; the tiny model lemmatizes, so Lemmas are compared too
    from_files = evaluate_file(gold_path, out)
    pairs = [("upos", "UPOS"), ("xpos", "XPOS"), ("ufeats", "UFeats"), ("alltags", "AllTags")]
    for report in (ours, from_files):
        for name, official_name in pairs + [("lemma", "Lemmas")]:
            assert official[official_name].correct == report["metrics"][name]["correct"], name
            assert official[official_name].gold_total == report["metrics"][name]["total"], name
    assert ours["test_file"]["split"] == "test" and ours["tokenization"] == "gold"
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


def test_evaluation_confusion_matrix_and_top_confusions(report):
    matrix = report["confusion"]["upos"]
    assert matrix["labels"] == ["ADJ", "NOUN", "PUNCT", "VERB"]
    # rows are gold, columns predicted: ADJ "e" -> NOUN, VERB "b" -> NOUN
    assert matrix["counts"] == [[0, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 1, 0, 1]]
    top = report["top_confusions"]["upos"]
    assert [(c["gold"], c["predicted"], c["count"], c["share_of_errors"]) for c in top] == [
        ("ADJ", "NOUN", 1, 50.0), ("VERB", "NOUN", 1, 50.0)
    ]
    assert top[0]["examples"] == [{"form": "e", "sent_id": "reviews-2"}]
    assert top[1]["examples"] == [{"form": "b", "sent_id": "email-1"}]


def test_evaluation_by_genre(report):
    genres = {g["genre"]: g for g in report["by_genre"]}
    assert set(genres) == {"email", "reviews"}
    assert genres["email"]["n_sentences"] == 1 and genres["email"]["n_words"] == 4
    assert genres["email"]["metrics"]["upos"]["correct"] == 3
    assert genres["reviews"]["metrics"]["upos"]["accuracy"] == 50.0


def test_evaluation_per_feature(report):
    rows = {row["feature"]: row for row in report["per_feature"]}
    # only universal features: NumForm and Typo are ignored
    assert set(rows) == {"Degree", "Mood", "Number", "VerbForm"}
    # Number: gold on "a" and "c", predicted on "a", "c" and (wrongly) "d"
    assert rows["Number"] == {"feature": "Number", "gold": 2, "predicted": 3, "correct": 2, "total": 3,
                              "accuracy": pytest.approx(66.6667, abs=1e-3)}
    assert rows["Mood"]["accuracy"] == 100.0 and rows["Degree"]["total"] == 1


def test_evaluation_xpos_tables_on_request(tmp_path):
    path = tmp_path / "gold.conllu"
    path.write_text(GOLD, encoding="utf-8")
    result = score(read_conllu(path), PREDICTED, tag_tables=("upos", "xpos"))
    # "c" has no gold XPOS and is left out of the XPOS tables
    assert sum(row["support"] for row in result["per_tag"]["xpos"]) == 5
    assert [(c["gold"], c["predicted"]) for c in result["top_confusions"]["xpos"]] == [("JJ", "NN"), ("VB", "NN")]


def test_evaluation_lemmas_only_when_predicted(tmp_path):
    path = tmp_path / "gold.conllu"
    path.write_text(GOLD.replace("\ta\t_\t", "\ta\tA\t"), encoding="utf-8")
    with_lemmas = [{**p, "lemma": ["A", "b", "x", "_"]} if i == 0 else {**p, "lemma": ["_", "_"]}
                   for i, p in enumerate(PREDICTED)]
    result = score(read_conllu(path), with_lemmas)
    # as conll18_ud_eval.py counts: a word whose gold lemma is "_" is right whatever is predicted
    assert result["metrics"]["lemma"]["correct"] == 6 and result["metrics"]["lemma"]["total"] == 6
    with_lemmas[0]["lemma"][0] = "a"
    assert score(read_conllu(path), with_lemmas)["metrics"]["lemma"]["correct"] == 5
    udeval = pytest.importorskip("udtools.udeval")
    pred_path = tmp_path / "pred.conllu"
    write_conllu(pred_path, read_conllu(path), with_lemmas)
    official = udeval.evaluate(udeval.load_conllu_file(str(path)), udeval.load_conllu_file(str(pred_path)))
    assert (official["Lemmas"].correct, official["Lemmas"].gold_total) == (5, 6)
    assert evaluate_file(path, pred_path)["metrics"]["lemma"]["correct"] == 5
    without = score(read_conllu(path), PREDICTED)
    assert without["metrics"]["lemma"]["total"] == 0 and without["metrics"]["lemma"]["accuracy"] is None


def test_evaluation_confidence_interval_narrows_with_data_and_is_exact_when_all_right(tmp_path):
    path = tmp_path / "gold.conllu"
    path.write_text(GOLD, encoding="utf-8")
    gold = read_conllu(path)
    low, high = score(gold, PREDICTED)["metrics"]["upos"]["ci95"]
    assert 0 <= low < 100 * 4 / 6 < high <= 100
    many = score(gold * 200, PREDICTED * 200)["metrics"]["upos"]
    assert many["accuracy"] == pytest.approx(100 * 4 / 6, abs=1e-3)
    assert low < many["ci95"][0] < many["accuracy"] < many["ci95"][1] < high
    perfect = [{"upos": [w.upos for w in s.words]} for s in gold]
    assert score(gold, perfect)["metrics"]["upos"]["ci95"] == [100.0, 100.0]
