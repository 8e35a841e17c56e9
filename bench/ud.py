"""The multilingual benchmark: our default config against spaCy's tagger+morphologizer+trainable_lemmatizer on
every UD treebank in ``../shared/ud``, trained the same way, scored the same way.

Usage (from the repository root, after `make venv`; ``make bench-ud`` runs all of it):

    .venv/bin/python bench/ud.py                          # every treebank, both systems
    .venv/bin/python bench/ud.py --treebanks de_gsd --systems bilstm
    .venv/bin/python bench/ud.py --skip-train              # re-score the models already in bench/out/ud

Splits: a treebank with a train file (en_ewt) trains on train, selects on dev, tests on test. One without (de_gsd,
fr_gsd, ru_gsd: the small-data setting) trains on the first 90% of dev's sentences, selects on the last 10%, and
tests on test; the two parts are written to ``bench/out/ud/<treebank>/`` byte for byte as they are in dev.

Ours is ``bilstm-tagger train configs/bilstm.cfg`` (``--config``), the same command for every treebank: nothing is
tuned per treebank. spaCy's is ``bench/spacy_baseline.py --pipeline tagger,morphologizer,trainable_lemmatizer``.
Both tag the test set's gold words (one Doc per sentence for spaCy) and are scored by
:func:`bilstm_tagger.evaluation.scoring.score` (the CoNLL 2018 evaluator's UPOS / XPOS / UFeats / AllTags /
Lemmas). For ours, the training time includes the lemmatizer's, and the library's tagging speed on the test set
(tagged once after a warm-up on dev, 1 torch thread) is measured with lemmas on and off. Rows go to ``bench/results.json`` (``"kind": "ud"``) and the table between the ``ud-table`` markers in
``bench/RESULTS.md``. Missing treebanks are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchmark import cpu_model, write_generated  # noqa: E402
from bilstm_tagger.corpus import iter_conllu  # noqa: E402
from bilstm_tagger.files import atomic_write_text  # noqa: E402

RESULTS_JSON = ROOT / "bench" / "results.json"
MARKERS = ("<!-- ud-table:start -->", "<!-- ud-table:end -->")
#: treebank -> spaCy language code
TREEBANKS = {"en_ewt": "en", "de_gsd": "de", "fr_gsd": "fr", "ru_gsd": "ru"}
SPACY_PIPELINE = "tagger,morphologizer,trainable_lemmatizer"
METRICS = ("upos", "xpos", "ufeats", "alltags", "lemma")
#: share of dev's sentences that trains in the small-data setting
TRAIN_SHARE = 0.9


def split_files(ud: Path, treebank: str, work: Path) -> dict:
    """train/dev/test paths of the benchmark's split of ``treebank`` (writing the small-data parts if needed)."""
    folder = ud / treebank
    files = {split: folder / f"{treebank}-ud-{split}.conllu" for split in ("train", "dev", "test")}
    if files["train"].exists():
        return files
    sentences = ["".join(s.lines) for s in iter_conllu(files["dev"])]
    cut = int(round(TRAIN_SHARE * len(sentences)))
    work.mkdir(parents=True, exist_ok=True)
    parts = {"train": work / f"{treebank}-dev-first90.conllu", "dev": work / f"{treebank}-dev-last10.conllu"}
    atomic_write_text(parts["train"], "".join(sentences[:cut]))
    atomic_write_text(parts["dev"], "".join(sentences[cut:]))
    return {**parts, "test": files["test"]}


def metrics_of(report: dict) -> dict:
    """The table's accuracies (None where the test set has no annotation: fr_gsd's XPOS)."""
    return {name: report["metrics"][name]["accuracy"] for name in METRICS}


def tagging_speed(model_dir: Path, files: dict, *, lemmatize: bool) -> float:
    """Words/s of the library tagging the test set once (1 torch thread), after a warm-up on dev: text the form
    and lemma caches have not seen, as a corpus would be."""
    import torch

    from bilstm_tagger import InferenceOptions, load_model
    from bilstm_tagger.corpus import read_conllu

    torch.set_num_threads(1)
    tagger = load_model(model_dir, InferenceOptions(lemmatize=lemmatize))
    tagger.tag([s.forms for s in read_conllu(files["dev"])])
    test = [s.forms for s in read_conllu(files["test"])]
    start = time.perf_counter()
    tagger.tag(test)
    return round(sum(map(len, test)) / (time.perf_counter() - start), 1)


def run_ours(config: Path, files: dict, model_dir: Path, *, train: bool, extra: list) -> dict:
    shown = [os.path.relpath(path, ROOT) for path in (files["train"], files["dev"], model_dir)]
    command = ["bilstm-tagger", "train", str(config), "--train", shown[0], "--dev", shown[1],
               "--output", shown[2], "--quiet", "--overwrite", *extra]
    if train:
        print("$", shlex.join(command), flush=True)
        subprocess.run([str(Path(sys.executable).parent / "bilstm-tagger"), *command[1:]], check=True, cwd=ROOT)
    from bilstm_tagger import load_model
    from bilstm_tagger.inference.prediction import evaluate_model

    tagger = load_model(model_dir)
    report = evaluate_model(tagger, files["test"])
    log = [json.loads(line) for line in (model_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    return {
        **metrics_of(report),
        "train_minutes": round((log[-1]["seconds"] + tagger.meta.get("lemmatizer", {}).get("seconds", 0)) / 60, 1),
        "lemmatizer_minutes": round(tagger.meta.get("lemmatizer", {}).get("seconds", 0) / 60, 1),
        "words_per_second": tagging_speed(model_dir, files, lemmatize=True),
        "words_per_second_tags_only": tagging_speed(model_dir, files, lemmatize=False),
        "best_epoch": tagger.meta.get("best_epoch"),
        "epochs": len(log),
        "command": shlex.join(command[:-2 - len(extra)] + extra),
    }


def run_spacy(lang: str, files: dict, output: Path, *, train: bool) -> dict:
    import spacy
    from spacy.tokens import Doc

    from bilstm_tagger.corpus import read_conllu
    from bilstm_tagger.evaluation.scoring import score
    from spacy_baseline import train_spacy

    if train:
        print(f"$ spacy baseline ({SPACY_PIPELINE}) -> {output}", flush=True)
        train_spacy(train=files["train"], dev=files["dev"], output=output, lang=lang, pipeline=SPACY_PIPELINE)
    nlp = spacy.load(output / "model-best")
    gold = read_conllu(files["test"])
    docs = nlp.pipe(Doc(nlp.vocab, words=s.forms) for s in gold)
    predicted = [
        {"upos": [t.pos_ or None for t in doc], "xpos": [t.tag_ or None for t in doc],
         "feats": [str(t.morph) or "_" for t in doc], "lemma": [t.lemma_ or None for t in doc]}
        for doc in docs
    ]
    training = json.loads((output / "training.json").read_text())
    return {
        **metrics_of(score(gold, predicted)),
        "train_minutes": training["train_minutes"],
        "command": f"python bench/spacy_baseline.py --pipeline {SPACY_PIPELINE} --lang {lang}",
    }


def render(rows: list) -> str:
    def fmt(value, digits: int = 2) -> str:
        return "n/a" if value is None else f"{value:,.{digits}f}"

    lines = [
        "| treebank | system | UPOS | XPOS | UFeats | AllTags | Lemmas | training (min) | words/s with lemmas | tags only |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (list(TREEBANKS).index(r["treebank"]), r["system"] != "bilstm")):
        lines.append(
            f"| {row['treebank']} | {row['system']} | "
            + " | ".join(fmt(row[name]) for name in METRICS)
            + f" | {row['train_minutes']} | {fmt(row.get('words_per_second'), 0)}"
            + f" | {fmt(row.get('words_per_second_tags_only'), 0)} |"
        )
    return "\n".join(lines)


def record(rows: list) -> None:
    existing = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else []
    keys = {(r["system"], r["treebank"]) for r in rows}
    kept = [r for r in existing if r.get("kind") != "ud" or (r["system"], r["treebank"]) not in keys]
    merged = kept + rows
    atomic_write_text(RESULTS_JSON, json.dumps(merged, indent=2) + "\n")
    table = render([r for r in merged if r.get("kind") == "ud"])
    write_generated(MARKERS, f"Generated by `bench/ud.py` (test sets, gold words).\n\n{table}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--treebanks", nargs="+", default=list(TREEBANKS), choices=list(TREEBANKS))
    parser.add_argument("--systems", nargs="+", default=["bilstm", "spacy"], choices=["bilstm", "spacy"])
    parser.add_argument("--config", type=Path, default=Path("configs/bilstm.cfg"))
    parser.add_argument("--name", default="bilstm", help="our system's name in the table")
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ud")
    parser.add_argument("--skip-train", action="store_true", help="score the models already trained")
    args, extra = parser.parse_known_args(argv)  # anything else: config overrides for our training
    rows = []
    for treebank in args.treebanks:
        if not (args.ud / treebank).is_dir():
            print(f"skipped {treebank}: {args.ud / treebank} not found (the UD treebanks live in ../shared/ud)")
            continue
        files = split_files(args.ud, treebank, args.out / treebank)
        for system in args.systems:
            if system == "bilstm":
                result = run_ours(args.config, files, args.out / treebank / args.name, train=not args.skip_train,
                                  extra=extra)
                name = args.name
            else:
                result = run_spacy(TREEBANKS[treebank], files, args.out / treebank / "spacy", train=not args.skip_train)
                name = "spaCy tagger+morphologizer+trainable_lemmatizer"
            row = {"kind": "ud", "system": name, "treebank": treebank, **result,
                   "train_file": files["train"].name, "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d")}
            print(json.dumps(row), flush=True)
            rows.append(row)
            record([row])
    return 0


if __name__ == "__main__":
    sys.exit(main())
