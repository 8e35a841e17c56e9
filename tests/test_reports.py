"""Reports and comparisons: every format carries the hand-computed figures; JSON validates against the schema; the
HTML is self-contained; McNemar's test and the CLI (`evaluate --gold --pred`, `compare`) behave."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from bilstm_tagger import read_conllu
from bilstm_tagger.cli import main
from bilstm_tagger.evaluation.comparison import compare
from bilstm_tagger.evaluation.rendering import render
from bilstm_tagger.evaluation.scoring import SCHEMA_FILE, score
from bilstm_tagger.evaluation.significance import mcnemar

from .test_evaluation import GOLD, PREDICTED


@pytest.fixture
def gold_path(tmp_path):
    path = tmp_path / "gold.conllu"
    path.write_text(GOLD, encoding="utf-8")
    return path


@pytest.fixture
def report(gold_path):
    return score(read_conllu(gold_path), PREDICTED, train_forms={"a", "b"}, tag_tables=("upos", "xpos"))


def _perfect(gold):
    return [{c: [getattr(w, c) for w in s.words] for c in ("upos", "xpos", "feats")} for s in gold]


@pytest.fixture
def comparison(gold_path):
    gold = read_conllu(gold_path)
    return compare(gold, {"ours": PREDICTED, "gold-copy": _perfect(gold)})


def _validate(document):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)


def test_reports_json_validates_against_schema(report, comparison):
    _validate(json.loads(render(report, "json")))
    _validate(json.loads(render(comparison, "json")))
    broken = json.loads(render(report, "json"))
    broken["metrics"]["upos"]["accuracy"] = 140.0
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


def test_reports_markdown_and_text_carry_the_figures(report):
    markdown = render(report, "markdown")
    assert "| UPOS | 66.67 |" in markdown
    assert "| NOUN | 50.00 | 100.00 | 66.67 | 2 |" in markdown  # precision, recall, F1, support
    assert "| ADJ | NOUN | 1 | 50.00 | e (reviews-2) |" in markdown  # top confusion with its example
    assert "| Number | 2 | 3 | 2 | 3 | 66.67 |" in markdown
    assert "| email | 1 | 4 | 75.00 |" in markdown
    text = render(report, "text")
    row = next(line for line in text.splitlines() if line.startswith("NOUN "))
    assert row.split() == ["NOUN", "50.00", "100.00", "66.67", "2"]
    assert "\x1b[" not in text and "\x1b[" in render(report, "text", color=True)


def test_reports_csv_is_the_per_tag_table(report):
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    noun = next(r for r in rows if r["column"] == "upos" and r["tag"] == "NOUN")
    assert float(noun["precision"]) == 50.0 and float(noun["recall"]) == 100.0 and int(noun["support"]) == 2
    assert {r["column"] for r in rows} == {"upos", "xpos"}


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.tables, self.links = [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "table":
            self.tables += 1
        for key in ("href", "src"):
            if key in attrs and attrs[key].startswith(("http:", "https:", "//")):
                self.links.append(attrs[key])


@pytest.mark.parametrize("which", ["report", "comparison"])
def test_reports_html_is_self_contained_with_embedded_images(which, report, comparison):
    document = render(report if which == "report" else comparison, "html")
    collector = _Collector()
    collector.feed(document)
    assert collector.tables >= 3 and not collector.links  # opens with no network
    assert collector.images
    for src in collector.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix):]).startswith(b"\x89PNG\r\n\x1a\n")


def test_reports_mcnemar_identical_systems_are_not_significant():
    outcomes = np.random.default_rng(0).integers(0, 2, size=500).astype(np.int8)
    result = mcnemar(outcomes, outcomes.copy())
    assert result == {"only_a_right": 0, "only_b_right": 0, "p_value": 1.0, "significant": False}


def test_reports_mcnemar_many_fixed_errors_are_significant_a_few_are_not():
    a = np.ones(1000, dtype=np.int8)
    a[:100] = 0  # a is wrong on 100 words
    b = a.copy()
    b[:60] = 1  # b fixes 60 of them
    many = mcnemar(a, b)
    assert many["only_b_right"] == 60 and many["only_a_right"] == 0 and many["significant"]
    assert many["p_value"] == pytest.approx(2 * 0.5 ** 60)
    few = b.copy()
    few[:60] = 0
    few[:3] = 1  # fixes 3 ...
    few[200:202] = 0  # ... and breaks 2
    result = mcnemar(a, few)
    assert (result["only_a_right"], result["only_b_right"]) == (2, 3)
    assert result["p_value"] == pytest.approx(1.0) and not result["significant"]
    # words not scored (-1) in either system do not count
    a_unscored = a.copy()
    a_unscored[:60] = -1
    assert mcnemar(a_unscored, b)["only_b_right"] == 0


def test_reports_comparison_figures(comparison):
    f1 = comparison["per_tag_f1"]["upos"]
    assert f1["NOUN"] == {"ours": pytest.approx(66.6667, abs=1e-3), "gold-copy": 100.0}
    upos = next(p for p in comparison["pairs"] if p["metric"] == "upos")
    # "b" and "e" are right only in the gold copy: two discordant words, p = 2 * 0.5 ** 2
    assert (upos["a"], upos["b"], upos["only_a_right"], upos["only_b_right"]) == ("ours", "gold-copy", 0, 2)
    assert upos["p_value"] == pytest.approx(0.5) and upos["difference"] == pytest.approx(-33.3333, abs=1e-3)
    assert "lemma" not in {p["metric"] for p in comparison["pairs"]}  # neither predicts lemmas
    markdown = render(comparison, "markdown")
    assert "| NOUN | 66.67 | 100.00 | +33.33 |" in markdown
    assert "| ours | gold-copy | UPOS | -33.33 | 0 | 2 | 0.5 | no |" in markdown


def _write_predictions(path, gold_text, predicted):
    """Gold text with its UPOS/XPOS/FEATS columns replaced by ``predicted``."""
    sentences = iter(predicted)
    lines, current, i = [], None, 0
    for line in gold_text.splitlines():
        cells = line.split("\t")
        if len(cells) == 10 and cells[0].isdigit():
            if current is None:
                current, i = next(sentences), 0
            cells[3], cells[4], cells[5] = current["upos"][i], current["xpos"][i], current["feats"][i]
            i += 1
        elif not line.strip():
            current = None
        lines.append("\t".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_reports_cli_evaluate_gold_pred_in_every_format(gold_path, tmp_path, capsys):
    pred = tmp_path / "pred.conllu"
    _write_predictions(pred, GOLD, PREDICTED)
    for suffix in (".json", ".md", ".html", ".csv", ".txt"):
        out = tmp_path / f"report{suffix}"
        assert main(["evaluate", "--gold", str(gold_path), "--pred", str(pred), "--output", str(out)]) == 0
        assert out.exists() and out.stat().st_size > 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["metrics"]["upos"]["correct"] == 4 and report["system"]["predictions"]["name"] == "pred.conllu"
    assert "seen" not in report
    printed = capsys.readouterr().out
    assert "UPOS" in printed and "66.67" in printed
    # with the training file, seen and unseen words
    train = tmp_path / "train.conllu"
    train.write_text(GOLD.split("\n\n")[0] + "\n\n", encoding="utf-8")
    assert main(["evaluate", "--gold", str(gold_path), "--pred", str(pred), "--train", str(train),
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["unseen"]["n_words"] == 1  # only "e" is new


def test_reports_cli_evaluate_rejects_a_prediction_with_other_words(gold_path, tmp_path, capsys):
    pred = tmp_path / "pred.conllu"
    _write_predictions(pred, GOLD.replace("\td\t", "\tD\t"), PREDICTED)
    assert main(["evaluate", "--gold", str(gold_path), "--pred", str(pred)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"pred\.conllu:5: word 4 of sentence 1 is 'D' but gold has 'd' \(line 5 of gold\.conllu\)", err)
    shorter = tmp_path / "short.conllu"
    shorter.write_text(GOLD.split("\n\n")[0] + "\n\n", encoding="utf-8")
    assert main(["evaluate", "--gold", str(gold_path), "--pred", str(shorter)]) == 1
    assert "short.conllu: 1 sentences, but the gold file has 2" in capsys.readouterr().err


def test_reports_cli_evaluate_argument_errors(gold_path, capsys):
    assert main(["evaluate", "--gold", str(gold_path)]) == 2
    assert main(["evaluate", "model", "test", "--gold", str(gold_path), "--pred", str(gold_path)]) == 2
    assert "MODEL TEST, or --gold GOLD --pred PRED" in capsys.readouterr().err


def test_reports_cli_compare_model_and_prediction_file(tiny_model, tiny_data, tmp_path, capsys):
    out = tmp_path / "compare.json"
    # the model against its own training data, and the gold file itself as a "prediction"
    systems = [f"tiny={tiny_model}", f"gold={tiny_data}"]
    assert main(["compare", "--gold", str(tiny_data), *systems, "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["systems"] == ["tiny", "gold"]
    assert result["reports"]["gold"]["metrics"]["upos"]["accuracy"] == 100.0
    assert "unseen" in result["reports"]["tiny"] and "unseen" not in result["reports"]["gold"]
    _validate(result)
    assert "McNemar" in capsys.readouterr().out
    assert main(["compare", "--gold", str(tiny_data), str(tmp_path / "missing")]) == 1
    assert "neither a model directory nor a CoNLL-U file" in capsys.readouterr().err


def test_reports_comparison_skips_what_a_system_does_not_predict(gold_path):
    gold = read_conllu(gold_path)
    tags_only = [{"upos": p["upos"], "xpos": p["xpos"]} for p in PREDICTED]
    result = compare(gold, {"full": PREDICTED, "tags-only": tags_only})
    assert result["targets"] == {"full": ["upos", "xpos", "feats"], "tags-only": ["upos", "xpos"]}
    assert {p["metric"] for p in result["pairs"]} == {"upos", "xpos"}
    assert "| UFeats | 83.33 [75.00, 100.00] | not predicted |" in render(result, "markdown")
