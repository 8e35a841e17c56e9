"""Train a config on a UD treebank, evaluate it on dev and test, measure tagging speed, and record the results.

Usage (from the repository root, after `make venv`):

    .venv/bin/python bench/benchmark.py --config configs/bilstm.cfg --name bilstm --treebank en_ewt

It trains with the `bilstm-tagger train` command (so the recorded command is exactly what a user would run),
then evaluates with the library, times ``nlp.pipe`` on the test set as pre-tokenized Docs, and
replaces this model's rows in ``bench/results.json`` and its table in ``bench/RESULTS.md``.
Treebanks are read from ``../shared/ud`` (``--ud``); when they are missing the script says so and exits 0.
For de/fr/ru (no train split here) it trains on dev and tests on test, as the small-data benchmark does.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bilstm_tagger.files import atomic_write_text  # noqa: E402

RESULTS_JSON = ROOT / "bench" / "results.json"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def split_files(ud: Path, treebank: str) -> dict:
    folder = ud / treebank
    files = {split: folder / f"{treebank}-ud-{split}.conllu" for split in ("train", "dev", "test")}
    if not files["train"].exists():  # small-data setting: train on dev, early-stop on dev, test on test
        files["train"] = files["dev"]
    return files


def time_pipe(
    model_dir: Path, test_path: Path, *, threads: int, repeats: int, batch_size: int = 1000, beam_size=None
) -> dict:
    """Median words/s of ``nlp.pipe`` over the test set as pre-tokenized Docs, after one warm-up pass."""
    import spacy
    import torch
    from spacy.tokens import Doc

    from bilstm_tagger import read_conllu

    torch.set_num_threads(threads)
    nlp = spacy.blank("en")
    start = time.perf_counter()
    nlp.add_pipe("bilstm_tagger", config={"model": str(model_dir), "device": "cpu", "beam_size": beam_size})
    load_seconds = time.perf_counter() - start
    sentences = read_conllu(test_path)
    n_words = sum(len(s) for s in sentences)
    runs = []
    for i in range(repeats + 1):
        docs = [Doc(nlp.vocab, words=s.forms) for s in sentences]
        start = time.perf_counter()
        for _ in nlp.pipe(docs, batch_size=batch_size):
            pass
        if i > 0:  # the first pass is the warm-up
            runs.append(n_words / (time.perf_counter() - start))
    return {"words_per_second": round(statistics.median(runs), 1), "runs": [round(r, 1) for r in runs],
            "threads": threads, "batch_size": batch_size, "load_seconds": round(load_seconds, 3)}


def update_results(rows: list) -> list:
    existing = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else []
    keys = {(r["model"], r["treebank"], r["split"]) for r in rows}
    # rows of another kind (bench/speed.py's "speed" rows) are kept as they are and not part of this table
    kept = [r for r in existing if "kind" in r or (r["model"], r["treebank"], r["split"]) not in keys]
    merged = kept + rows
    atomic_write_text(RESULTS_JSON, json.dumps(merged, indent=2) + "\n")
    return [r for r in merged if "kind" not in r]


def render_table(rows: list) -> str:
    lines = [
        "| model | treebank | split | UPOS | XPOS | UFeats | AllTags | UFeats exact | unseen UPOS | train min | epochs | words/s (1 thread) | words/s (2 threads) | size MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(v, digits=2):
        return "n/a" if v is None else f"{v:.{digits}f}"

    for r in rows:
        lines.append(
            f"| {r['model']} | {r['treebank']} | {r['split']} | {fmt(r['upos'])} | {fmt(r['xpos'])} | "
            f"{fmt(r['ufeats'])} | {fmt(r['alltags'])} | {fmt(r.get('feats_exact'))} | {fmt(r['oov_upos'])} | "
            f"{fmt(r['train_seconds'] / 60, 1)} | {r.get('epochs', 'n/a')} | {fmt(r['words_per_second'], 0)} | "
            f"{fmt(r.get('words_per_second_2_threads'), 0)} | {fmt(r.get('model_size_bytes', 0) / 1e6, 1)} |"
        )
    buckets = ("1-10", "11-20", "21-30", "31-50", "51+")
    with_length = [r for r in rows if r.get("upos_by_length") and r["split"] == "test"]
    if with_length:
        lines += ["", "UPOS accuracy on test by sentence length (words):", "",
                  "| model | treebank | " + " | ".join(buckets) + " |", "|---|---|" + "---|" * len(buckets)]
        for r in with_length:
            lines.append(f"| {r['model']} | {r['treebank']} | "
                         + " | ".join(fmt(r["upos_by_length"].get(b)) for b in buckets) + " |")
    return "\n".join(lines)


def write_generated(markers: tuple, generated: str) -> None:
    """Replace the text between ``markers`` (start, end) in RESULTS.md by ``generated``; the prose around it is
    hand-written. Markers that are missing are added at the end. Shared by every benchmark that writes a table."""
    start, end = markers
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else f"# Benchmark results\n\n{start}\n{end}\n"
    if start not in text:
        text += f"\n{start}\n{end}\n"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    atomic_write_text(RESULTS_MD, f"{before}{start}\n{generated}\n{end}{after}")


def update_markdown(rows: list) -> None:
    """Replace the generated table between the markers in RESULTS.md."""
    generated = "Generated by `bench/benchmark.py` from `bench/results.json`.\n\n" + render_table(rows)
    write_generated(("<!-- results-table:start -->", "<!-- results-table:end -->"), generated)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--name", required=True, help="the model's name in results.json, e.g. bilstm")
    parser.add_argument("--treebank", default="en_ewt")
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud")
    parser.add_argument("--output", type=Path, help="model directory (default bench/out/<treebank>-<name>)")
    parser.add_argument("--skip-train", action="store_true", help="reuse an existing model directory")
    parser.add_argument("--repeats", type=int, default=5, help="timed nlp.pipe passes (median reported)")
    parser.add_argument("--beam-sizes", type=int, nargs="+", help="seq2seq: one set of rows per beam size")
    # anything else is a config override passed on to `bilstm-tagger train`, e.g. --model.order 1
    args, extra = parser.parse_known_args(argv)
    files = split_files(args.ud, args.treebank)
    if not files["dev"].exists():
        print(f"skip: {files['dev']} not found (treebanks live in ../shared/ud beside the checkout)")
        return 0
    model_dir = args.output or ROOT / "bench" / "out" / f"{args.treebank}-{args.name}"
    train_cmd = [
        "bilstm-tagger", "train", str(args.config.relative_to(ROOT) if args.config.is_absolute() else args.config),
        "--train", str(files["train"]), "--dev", str(files["dev"]), "--output", str(model_dir), "--quiet",
        *extra,
    ]
    if not args.skip_train:
        print("$", shlex.join(train_cmd), flush=True)
        subprocess.run([str(Path(sys.executable).parent / "bilstm-tagger"), *train_cmd[1:]], check=True, cwd=ROOT)

    from bilstm_tagger import load_model
    from bilstm_tagger.evaluation.scoring import accuracies
    from bilstm_tagger.inference.prediction import evaluate_model

    log = [json.loads(line) for line in (model_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    tagger = load_model(model_dir)
    size = sum(p.stat().st_size for p in model_dir.iterdir() if p.name != "train_log.jsonl")
    command = (f"python bench/benchmark.py --config {train_cmd[2]} --name {args.name} --treebank {args.treebank} "
               + (f"--beam-sizes {' '.join(map(str, args.beam_sizes))} " if args.beam_sizes else "")
               + " ".join(extra)).strip()
    rows = []
    for beam_size in args.beam_sizes or [None]:
        name = args.name if beam_size is None else f"{args.name}-beam{beam_size}"
        tagger = tagger.with_options(beam_size=beam_size)
        speed_1 = time_pipe(model_dir, files["test"], threads=1, repeats=args.repeats, beam_size=beam_size)
        speed_2 = time_pipe(model_dir, files["test"], threads=2, repeats=args.repeats, beam_size=beam_size)
        for split in ("dev", "test"):
            report = evaluate_model(tagger, files[split])
            # a target the model does not predict is "n/a", not 0% (the report itself counts it as wrong)
            m = accuracies(report["metrics"], tagger.targets)
            rows.append({
                "model": name,
                "treebank": args.treebank,
                "split": split,
                "upos": m["upos"],
                "xpos": m["xpos"],
                "ufeats": m["ufeats"],
                "alltags": m["alltags"],
                "feats_exact": m["feats_exact"],
                "oov_upos": report["unseen"]["metrics"]["upos"]["accuracy"],
                "oov_words": report["unseen"]["n_words"],
                "upos_by_length": {b["bucket"]: b["metrics"]["upos"]["accuracy"] for b in report["by_length"]},
                "train_seconds": log[-1]["seconds"],
                "epochs": len(log),
                "best_epoch": tagger.meta.get("best_epoch"),
                "words_per_second": speed_1["words_per_second"],
                "words_per_second_2_threads": speed_2["words_per_second"],
                "speed_runs": {"1_thread": speed_1, "2_threads": speed_2},
                "model_size_bytes": size,
                "train_file": files["train"].name,
                "cpu": cpu_model(),
                "date": time.strftime("%Y-%m-%d"),
                "command": command,
            })
            print(f"{name} {split}: " + ", ".join(f"{k}={rows[-1][k]}" for k in ("upos", "xpos", "ufeats", "alltags", "oov_upos")))
        print(f"{name} speed: {speed_1['words_per_second']} words/s (1 thread), {speed_2['words_per_second']} (2 threads)")
    merged = update_results(rows)
    update_markdown(merged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
