"""Reports and comparisons rendered for people: terminal text, Markdown, one self-contained HTML file, CSV, JSON.

A report (:func:`~bilstm_tagger.evaluation.scoring.score`) or a comparison (:func:`~bilstm_tagger.evaluation.comparison.compare`)
is first laid out as titled tables (:class:`Table`); each format then draws the same tables, so every format
carries the same figures. HTML adds the plots (:mod:`~bilstm_tagger.evaluation.plots`) as embedded PNGs: the file opens in a
browser with no network. CSV is the per-tag table. JSON is the report itself.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from .scoring import LENGTH_BUCKETS, METRICS, accuracies

FORMATS = ("text", "json", "markdown", "html", "csv")
#: Confusion matrices with more tags than this are left to JSON and the HTML heatmap (too wide for a table).
MAX_MATRIX_TABLE = 20


@dataclass
class Table:
    """One titled table; cells are already formatted text."""

    title: str
    header: List[str]
    rows: List[List[str]]
    note: str = ""


@dataclass
class Document:
    title: str
    facts: List[Tuple[str, str]]
    tables: List[Table]
    images: List[Tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG), HTML only


def render(data: dict, fmt: str, *, color: bool = False) -> str:
    """``data`` (a report or a comparison, told apart by its ``schema``) in format ``fmt`` (one of :data:`FORMATS`).

    ``color`` adds ANSI colours to text output (for a terminal).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    comparing = data["schema"].startswith("bilstm_tagger.comparison")
    if fmt == "csv":
        return _comparison_csv(data) if comparing else _report_csv(data)
    document = _comparison_document(data, images=fmt == "html") if comparing else _report_document(
        data, images=fmt == "html"
    )
    if fmt == "markdown":
        return _markdown(document)
    if fmt == "html":
        return _html(document)
    return _text(document, color=color)


# -- numbers ---------------------------------------------------------------------------------------------------------


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _interval(metric: dict) -> str:
    ci = metric.get("ci95")
    return "n/a" if not ci else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _p_value(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


def _scored_metrics(report: dict) -> List[str]:
    return [name for name in METRICS if report["metrics"][name]["total"]]


def _facts(data: dict) -> List[Tuple[str, str]]:
    test = data.get("test_file") or {}
    facts = []
    if test:
        facts.append(("test file", f"{test.get('name', '?')} (sha256 {str(test.get('sha256', '?'))[:12]}...)"))
        facts.append(("split", test.get("split") or "not named in the file name"))
    facts.append(("tokenization", f"{data.get('tokenization', 'gold')} (every word scored as given in the gold file)"))
    return facts


def _system_description(system: dict) -> str:
    if "predictions" in system:
        return f"predictions {system['predictions']['name']}"
    parts = [system.get("architecture") or "model"]
    if system.get("model"):
        parts.append(system["model"])
    train = system.get("train_files") or []
    if train:
        parts.append("trained on " + ", ".join(f.get("name", "?") for f in train))
    return ", ".join(parts)


# -- one report ------------------------------------------------------------------------------------------------------


def _group_rows(groups: List[Tuple[str, dict]], metrics: List[str], with_sentences: bool) -> List[List[str]]:
    rows = []
    for label, group in groups:
        row = [label] + ([str(group["n_sentences"])] if with_sentences else []) + [str(group["n_words"])]
        rows.append(row + [_pct(group["metrics"][m]["accuracy"]) for m in metrics])
    return rows


def _report_document(report: dict, *, images: bool) -> Document:
    metrics = _scored_metrics(report)
    facts = _facts(report)
    if report.get("system"):
        facts.append(("system", _system_description(report["system"])))
    facts.append(("words / sentences", f"{report['n_words']} / {report['n_sentences']}"))
    tables = [Table(
        "Overall",
        ["metric", "accuracy", "95% CI", "correct", "total"],
        [[METRICS[m], _pct(report["metrics"][m]["accuracy"]), _interval(report["metrics"][m]),
          str(report["metrics"][m]["correct"]), str(report["metrics"][m]["total"])] for m in metrics],
        "95% confidence intervals: percentile bootstrap over sentences (1,000 resamples).",
    )]
    names = [METRICS[m] for m in metrics]
    if "unseen" in report:
        tables.append(Table("Words seen and unseen in training", ["words", "count"] + names, _group_rows(
            [("seen", report["seen"]), ("unseen", report["unseen"])], metrics, False)))
    tables.append(Table("By sentence length (words)", ["length", "sentences", "words"] + names, _group_rows(
        [(b["bucket"], b) for b in report["by_length"]], metrics, True)))
    if report.get("by_genre"):
        tables.append(Table("By genre (sent_id prefix)", ["genre", "sentences", "words"] + names, _group_rows(
            [(g["genre"], g) for g in report["by_genre"]], metrics, True)))
    plots = []
    for column, rows in report.get("per_tag", {}).items():
        label = column.upper()
        tables.append(Table(f"Per tag: {label}", [label, "precision", "recall", "F1", "support"], [
            [r["tag"], _pct(r["precision"]), _pct(r["recall"]), _pct(r["f1"]), str(r["support"])] for r in rows
        ]))
        confusions = report["top_confusions"][column]
        header = ["gold", "predicted", "count", "% of errors", "examples"]
        tables.append(Table(f"Most frequent {label} confusions", header, [
            [c["gold"], c["predicted"], str(c["count"]), _pct(c["share_of_errors"]),
             "; ".join(f"{e['form']} ({e['sent_id'] or '-'})" for e in c["examples"])] for c in confusions
        ]))
        matrix = report["confusion"][column]
        labels, counts = matrix["labels"], matrix["counts"]
        if len(labels) <= MAX_MATRIX_TABLE:
            tables.append(Table(f"{label} confusion matrix (counts; rows gold, columns predicted)",
                                ["gold \\ predicted"] + labels,
                                [[g] + [str(c) for c in row] for g, row in zip(labels, counts)]))
            tables.append(Table(f"{label} confusion matrix (% of each gold tag)", ["gold \\ predicted"] + labels, [
                [g] + [f"{100 * c / max(sum(row), 1):.1f}" if c else "" for c in row] for g, row in zip(labels, counts)
            ]))
        else:
            tables.append(Table(f"{label} confusion matrix", [], [],
                                f"{len(labels)} tags: too wide for a table; see the JSON report and the HTML heatmap."))
        if images and labels:
            from .plots import confusion_heatmap, f1_bars

            plots.append((f"{label} confusions, % of each gold tag", confusion_heatmap(labels, counts, title=label)))
            plots.append((f"{label} F1 per tag", f1_bars({r["tag"]: {"F1": r["f1"]} for r in rows}, title=label)))
    if report.get("per_feature"):
        tables.append(Table("Per feature (universal features)", ["feature", "gold", "predicted", "correct", "total",
                                                                   "accuracy"], [
            [f["feature"], str(f["gold"]), str(f["predicted"]), str(f["correct"]), str(f["total"]), _pct(f["accuracy"])]
            for f in report["per_feature"]
        ], "A word counts for a feature where gold or prediction has it; right where both give the same value."))
    return Document("Tagging report", facts, tables, plots)


def _report_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["column", "tag", "precision", "recall", "f1", "support"])
    for column, rows in report.get("per_tag", {}).items():
        for r in rows:
            writer.writerow([column, r["tag"], r["precision"], r["recall"], r["f1"], r["support"]])
    return out.getvalue()


# -- a comparison ----------------------------------------------------------------------------------------------------


def _comparison_document(comparison: dict, *, images: bool) -> Document:
    systems = comparison["systems"]
    reports = comparison["reports"]
    facts = _facts(comparison)
    for name in systems:
        source = comparison.get("sources", {}).get(name)
        facts.append((f"system {name}", _system_description(source) if source else "in-memory predictions"))
    predicted = {n: accuracies(reports[n]["metrics"], comparison["targets"][n]) for n in systems}
    metrics = [m for m in METRICS if any(predicted[n][m] is not None for n in systems)]

    def cell(name: str, metric: str) -> str:
        if predicted[name][metric] is None:
            return "not predicted"
        return f"{_pct(predicted[name][metric])} {_interval(reports[name]['metrics'][metric])}"

    overall = [[METRICS[m]] + [cell(n, m) for n in systems] for m in metrics]
    if all("unseen" in reports[n] for n in systems):
        unseen = [_pct(reports[n]["unseen"]["metrics"]["upos"]["accuracy"]) for n in systems]
        overall.append(["UPOS, unseen words"] + unseen)
    tables = [Table("Overall (accuracy and 95% bootstrap interval)", ["metric"] + systems, overall)]
    buckets = {n: {b["bucket"]: b["metrics"]["upos"]["accuracy"] for b in reports[n]["by_length"]} for n in systems}
    by_length = [[label] + [_pct(buckets[n][label]) for n in systems] for label, _, _ in LENGTH_BUCKETS]
    tables.append(Table("UPOS by sentence length (words)", ["length"] + systems, by_length))
    plots = []
    base = systems[0]
    for column, per_tag in comparison["per_tag_f1"].items():
        label = column.upper()
        diffs = [f"{n} − {base}" for n in systems[1:]]
        rows = []
        for tag, values in per_tag.items():
            row = [tag] + [_pct(values[n]) for n in systems]
            for n in systems[1:]:
                a, b = values[base], values[n]
                row.append("n/a" if a is None or b is None else f"{b - a:+.2f}")
            rows.append(row)
        tables.append(Table(f"Per-tag F1: {label}", [label] + systems + diffs, rows))
        if images and per_tag:
            from .plots import f1_bars

            plots.append((f"{label} F1 per tag and system", f1_bars(per_tag, title=f"{label} F1")))
    tables.append(Table(
        "Pairwise differences (McNemar's exact test)",
        ["A", "B", "metric", "A − B", "only A right", "only B right", "p-value",
         f"significant (p < {comparison['alpha']})"],
        [[p["a"], p["b"], METRICS[p["metric"]], f"{p['difference']:+.2f}", str(p["only_a_right"]),
          str(p["only_b_right"]), _p_value(p["p_value"]), "yes" if p["significant"] else "no"]
         for p in comparison["pairs"]],
        "Only the words exactly one of the two systems gets right count; the test asks whether they split 50/50.",
    ))
    return Document("Tagger comparison", facts, tables, plots)


def _comparison_csv(comparison: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    systems = comparison["systems"]
    writer.writerow(["column", "tag"] + [f"f1 {n}" for n in systems])
    for column, per_tag in comparison["per_tag_f1"].items():
        for tag, values in per_tag.items():
            writer.writerow([column, tag] + ["" if values[n] is None else values[n] for n in systems])
    return out.getvalue()


# -- drawing ---------------------------------------------------------------------------------------------------------


def _text(document: Document, *, color: bool) -> str:
    from wasabi import color as paint
    from wasabi import table

    def title(text: str) -> str:
        return paint(text, bold=True) if color else text

    lines = [title(document.title), ""] + [f"{k}: {v}" for k, v in document.facts] + [""]
    for t in document.tables:
        lines.append(title(t.title))
        if t.rows:
            aligns = ["l"] + ["r"] * (len(t.header) - 1)
            if t.header and t.header[-1] == "examples":
                aligns[-1] = "l"
            lines.append(table(t.rows, header=t.header, divider=True, aligns=aligns, max_col=60).rstrip("\n"))
        if t.note:
            lines.append(t.note)
        lines.append("")
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(document: Document) -> str:
    lines = [f"# {document.title}", ""] + [f"- **{k}**: {_md_cell(v)}" for k, v in document.facts] + [""]
    for t in document.tables:
        lines += [f"## {t.title}", ""]
        if t.rows:
            lines.append("| " + " | ".join(_md_cell(h) for h in t.header) + " |")
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(t.header) - 1)) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
            lines.append("")
        if t.note:
            lines += [t.note, ""]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:80em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{padding:.2em .6em;border-bottom:1px solid #ddd}
td{text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}
figure{display:inline-block;margin:1em}figcaption{font-size:.9em;color:#555}.note{color:#555;font-size:.9em}"""


def _html(document: Document) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(document.title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{e(document.title)}</h1>", "<ul>"]
    parts += [f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in document.facts]
    parts.append("</ul>")
    for caption, png in document.images:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
                     f"<figcaption>{e(caption)}</figcaption></figure>")
    for t in document.tables:
        parts.append(f"<h2>{e(t.title)}</h2>")
        if t.rows:
            parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.header) + "</tr></thead><tbody>")
            parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in t.rows]
            parts.append("</tbody></table>")
        if t.note:
            parts.append(f'<p class="note">{e(t.note)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
