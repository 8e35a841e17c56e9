"""Tagging speed, our component against spaCy's own pipeline, measured in one run on one machine, as a user sees it.

Usage (from the repository root, after `make venv`; `make bench-speed` for the default paths):

    .venv/bin/python bench/speed.py --model bench/out/ud/en_ewt/bilstm --hmm bench/out/en_ewt-hmm-trigram \
        --fast bench/out/ud/en_ewt/bilstm:int8 --spacy-model bench/out/ud/en_ewt/spacy/model-best

Every measurement runs in a fresh process (``speed.py measure``), so thread settings, load time and peak RSS are
each system's own, and each system tags pre-tokenized Docs (gold UD words) through ``nlp.pipe``:

- **tagged once** (the headline): after a warm-up on EWT dev, EWT train (12,544 sentences, 204,577 words: text
  neither the warm-up nor anything else has shown the caches) is tagged once, with 1 torch/BLAS thread, with 2, and
  with the process's default threads while a busy-loop process started by the benchmark takes one core ("one core
  busy"; stopped after); each figure the median of ``--runs`` fresh processes (3), run interleaved;
- **repeated test** (second, labelled): EWT test tagged 5 times after a warm-up on it, median (a long-running
  process that sees the same sentences again: every form in our cache);
- latency of ``nlp(text)`` on the raw text of the first 1,000 test sentences of 5 to 20 words, right after the
  corpus (text this process has not tagged, as a service that has run a while meets it; median and 99th
  percentile, each the median over the 1-thread processes); accuracy (UPOS / XPOS / UFeats / Lemmas) of EWT test;
  load time (pipeline load and the first Doc); peak RSS.

Systems: ours with lemmas (the default) and tags only (``lemmatize = false``), other model directories given, and
spaCy's pipeline with its lemmatizer (when it has one) and without (``spacy.load(..., exclude=...)``, the same
tagger and morphologizer). Ratios pair ours with lemmas against spaCy with its lemmatizer, everything else against
spaCy's tagger+morphologizer. Rows go to ``bench/results.json`` (``"kind": "speed"``) and a table between markers
in ``bench/RESULTS.md``. ``speed.py gpu --model DIR`` measures GPU words/s with a batch sweep instead
(``bench/gpu.sh`` runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchmark import cpu_model, write_generated  # noqa: E402

RESULTS_JSON = ROOT / "bench" / "results.json"
MARKERS = ("<!-- speed-table:start -->", "<!-- speed-table:end -->")


# -- one measurement, in its own process ---------------------------------------------------------------------------


LEMMATIZERS = ("trainable_lemmatizer", "lemmatizer")


def load_pipeline(system: str, path: str, precision: str, device: str, *, lemmas: bool = True,
                  int8_steps: Optional[bool] = None):
    """A spaCy pipeline that tags: spaCy's own (``system == "spacy"``; without its lemmatizer unless ``lemmas``) or
    ours around a model directory (``lemmas``: the component's ``lemmatize``; ``int8_steps``: the component's)."""
    import spacy

    if system == "spacy":
        return spacy.load(path, exclude=[] if lemmas else list(LEMMATIZERS))
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": path, "device": device, "precision": precision, "lemmatize": lemmas,
                                          "int8_steps": int8_steps})
    return nlp


def gold_docs(nlp, sentences):
    from spacy.tokens import Doc

    return [Doc(nlp.vocab, words=s.forms) for s in sentences]


def accuracy(docs, sentences) -> dict:
    """UPOS / XPOS / UFeats / Lemmas accuracy of what the pipeline wrote on the Docs, scored as `bilstm-tagger
    evaluate` scores (the CoNLL 2018 evaluator's definitions); a column the pipeline does not write is left out."""
    from bilstm_tagger.evaluation.scoring import score

    predicted = [
        {"upos": [t.pos_ for t in doc], "xpos": [t.tag_ for t in doc], "feats": [str(t.morph) or "_" for t in doc],
         "lemma": [t.lemma_ or None for t in doc]}
        for doc in docs
    ]
    metrics = score(sentences, predicted)["metrics"]
    written = {
        "upos": any(t.pos_ for d in docs for t in d), "xpos": any(t.tag_ for d in docs for t in d),
        "ufeats": any(str(t.morph) for d in docs for t in d), "lemma": any(t.lemma_ for d in docs for t in d),
    }
    return {name: round(metrics[name]["accuracy"], 2) for name, wrote in written.items() if wrote}


def sentence_text(sentence) -> str:
    """A sentence's ``# text`` (its raw text), else its words joined by spaces."""
    for line in sentence.lines:
        if line.startswith("# text = "):
            return line[len("# text = "):].rstrip("\r\n")
    return " ".join(sentence.forms)


def measure(args) -> dict:
    """Run in a fresh process: load, tag, time; print one JSON object (see the module docstring)."""
    import torch

    from bilstm_tagger import read_conllu

    if args.threads:
        torch.set_num_threads(args.threads)
    ud = Path(args.ud) / "en_ewt"
    dev, corpus, test = (read_conllu(ud / f"en_ewt-ud-{split}.conllu") for split in ("dev", "train", "test"))
    n_corpus, n_test = sum(len(s) for s in corpus), sum(len(s) for s in test)
    start = time.perf_counter()
    nlp = load_pipeline(args.system, args.path, args.precision, "cpu", lemmas=args.lemmas,
                        int8_steps=False if args.float_steps else None)
    nlp(gold_docs(nlp, dev[:1])[0])  # our component reads its model on first use: count it
    result = {"threads": args.threads or torch.get_num_threads(), "load_seconds": round(time.perf_counter() - start, 3)}
    list(nlp.pipe(gold_docs(nlp, dev), batch_size=args.batch_size))  # the warm-up
    docs = gold_docs(nlp, corpus)
    start = time.perf_counter()
    for _doc in nlp.pipe(docs, batch_size=args.batch_size):
        pass
    result["once_words_per_second"] = round(n_corpus / (time.perf_counter() - start), 1)
    result["n_words"] = n_corpus
    if args.latency_calls:
        # sentences this process has not tagged yet (before the repeated test passes), as a service that has run
        # for a while meets them
        texts = [sentence_text(s) for s in test if 5 <= len(s) <= 20][: args.latency_calls]
        times = []
        for text in texts:
            start = time.perf_counter()
            nlp(text)
            times.append(time.perf_counter() - start)
        times.sort()
        result["latency_ms"] = {"median": round(1000 * statistics.median(times), 3),
                                "p99": round(1000 * times[int(0.99 * (len(times) - 1))], 3), "calls": len(times)}
    if args.repeats:
        runs = []
        for i in range(args.repeats + 1):
            docs = gold_docs(nlp, test)
            start = time.perf_counter()
            tagged = list(nlp.pipe(docs, batch_size=args.batch_size))
            if i > 0:  # the first pass is the warm-up
                runs.append(n_test / (time.perf_counter() - start))
        result["repeated_words_per_second"] = round(statistics.median(runs), 1)
    if args.accuracy:
        tagged = list(nlp.pipe(gold_docs(nlp, test), batch_size=args.batch_size))
        result["accuracy"] = accuracy(tagged, test)
    # ru_maxrss is in KiB on Linux
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def latency_median(runs: List[dict]) -> Optional[dict]:
    """The latency of the 1-thread processes: the median of their medians and of their p99s (one process's figure
    moved by 10% between runs on this machine)."""
    figures = [r["latency_ms"] for r in runs if "latency_ms" in r]
    if not figures:
        return None
    return {"median": statistics.median(f["median"] for f in figures),
            "p99": statistics.median(f["p99"] for f in figures),
            "calls": figures[0]["calls"], "processes": len(figures)}


def run_measurement(system: str, path: str, ud: Path, *, threads: Optional[int], lemmas: bool = True,
                    precision: str = "fp32", busy: bool = False, repeats: int = 0, accuracy: bool = False,
                    latency_calls: int = 0, batch_size: int = 1000) -> dict:
    """One measurement in a fresh process; ``threads`` None: the process's defaults; ``busy``: a busy-loop process
    runs on one core meanwhile."""
    env = dict(os.environ)
    if threads:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
            env[name] = str(threads)
    command = [sys.executable, str(Path(__file__).resolve()), "measure", "--system", system, "--path", path,
               "--ud", str(ud), "--threads", str(threads or 0), "--batch-size", str(batch_size),
               "--repeats", str(repeats), "--latency-calls", str(latency_calls), "--precision", precision]
    command += [] if lemmas else ["--no-lemmas"]
    command += ["--accuracy"] if accuracy else []
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- distance from the limit ---------------------------------------------------------------------------------------


def bilstm_flops_per_word(model_dir: Path) -> int:
    """Multiply-adds x 2 per word of the BiLSTM's CPU inference path (first-layer projections cached per form, so
    the character encoder and that projection cost nothing for a known form): recurrences, upper layers' input
    projections and the heads. Elementwise gate arithmetic and padding are left out."""
    from bilstm_tagger import load_config

    config = load_config(model_dir / "config.cfg")
    hidden, layers = config["model"]["hidden"], config["model"]["layers"]
    labels = json.loads((model_dir / "labels.json").read_text())
    recurrent = layers * 2 * (2 * hidden * 4 * hidden)  # two directions, h (H) x W_hh (H x 4H)
    upper = (layers - 1) * 2 * (2 * 2 * hidden * 4 * hidden)  # two directions, input 2H x W_ih (2H x 4H)
    heads = 2 * 2 * hidden * sum(len(v) for v in labels.values())
    return recurrent + upper + heads


def matmul_flops_per_second(threads: int, size: int = 1024, repeats: int = 20) -> float:
    """FLOP/s of a plain float32 (size x size) @ (size x size) product in torch with ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        runs.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(runs)


# -- GPU ------------------------------------------------------------------------------------------------------------


def gpu(args) -> dict:
    """Words/s of the model on the GPU: the library (Tagger.tag_ids) over a batch sweep and each precision, and
    nlp.pipe with spacy.require_gpu(); the test set is repeated ``--copies`` times so that big batches fill up."""
    import spacy
    import torch

    from bilstm_tagger import InferenceOptions, load_model, read_conllu

    sentences = read_conllu(args.test)
    forms = [s.forms for s in sentences] * args.copies
    n_words = sum(len(f) for f in forms)
    result = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "n_words": n_words,
              "copies": args.copies, "library": [], "pipe": []}
    loaded = load_model(args.model, InferenceOptions(device="cuda"))
    for precision in ("fp32", "bf16", "fp16"):
        tagger = loaded.with_options(precision=precision)
        try:
            tagger.tag_ids(forms[:10], batch_words=4096)
        except Exception as exc:  # a precision this GPU or torch build lacks: say so, measure the others
            result["library"].append({"precision": precision, "error": repr(exc)[:300]})
            print(result["library"][-1], flush=True)
            continue
        for batch_words in args.batch_words:
            tagger.tag_ids(forms[: len(sentences)], batch_words=batch_words)  # warm-up, fills the form cache
            runs = []
            for _ in range(args.repeats):
                torch.cuda.synchronize()
                start = time.perf_counter()
                tagger.tag_ids(forms, batch_words=batch_words)
                torch.cuda.synchronize()
                runs.append(n_words / (time.perf_counter() - start))
            row = {"precision": precision, "batch_words": batch_words, "words_per_second": round(statistics.median(runs))}
            result["library"].append(row)
            print(json.dumps(row), flush=True)
    if args.profile:
        # where a big-batch pass spends its time, host and device, for the next person tuning this
        from torch.profiler import ProfilerActivity, profile

        tagger = loaded
        tagger.tag_ids(forms[: len(sentences)], batch_words=131072)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            tagger.tag_ids(forms, batch_words=131072)
            torch.cuda.synchronize()
        for key in ("self_cpu_time_total", "self_cuda_time_total"):
            table = prof.key_averages().table(sort_by=key, row_limit=12)
            result.setdefault("profile", {})[key] = table
            print(table, flush=True)
    spacy.require_gpu()
    nlp = load_pipeline("ours", str(args.model), "fp32", "auto")
    docs = gold_docs(nlp, sentences)
    tagged = list(nlp.pipe(docs, batch_size=1000))
    result["pipe_device"] = str(nlp.get_pipe("bilstm_tagger").tagger.device)
    result["pipe_accuracy"] = accuracy(tagged, sentences)
    for batch_size in (1000, 10000):
        runs = []
        for _ in range(args.repeats):
            docs = gold_docs(nlp, sentences * args.copies)
            start = time.perf_counter()
            for _doc in nlp.pipe(docs, batch_size=batch_size):
                pass
            runs.append(n_words / (time.perf_counter() - start))
        row = {"batch_size": batch_size, "words_per_second": round(statistics.median(runs))}
        result["pipe"].append(row)
        print(json.dumps(row), flush=True)
    return result


# -- the whole benchmark --------------------------------------------------------------------------------------------


def systems_from(args) -> list:
    """(name, system, path, precision, lemmas, baseline name) of every row; the spaCy rows last."""
    from spacy.util import load_config

    # the pipeline's component names from its config, without loading its weights
    pipeline = load_config(Path(args.spacy_model) / "config.cfg")["nlp"]["pipeline"]
    spacy_lemmas = any(name in LEMMATIZERS for name in pipeline)
    spacy_full = "spaCy tagger+morphologizer+lemmatizer"
    spacy_tags = "spaCy tagger+morphologizer"
    model = str(args.model)
    systems = [
        (f"{Path(model).parent.name}/{Path(model).name} (default, lemmas)", "ours", model, "fp32", True,
         spacy_full if spacy_lemmas else spacy_tags),
        (f"{Path(model).parent.name}/{Path(model).name} tags only", "ours", model, "fp32", False, spacy_tags),
    ]
    for path in args.hmm or []:
        systems.append((Path(path).name, "ours", str(path), "fp32", False, spacy_tags))
    for fast in args.fast or []:
        path, _, precision = fast.partition(":")
        systems.append((f"{Path(path).name} {precision or 'fp32'}, lemmas", "ours", path, precision or "fp32", True,
                        spacy_full if spacy_lemmas else spacy_tags))
    if spacy_lemmas:
        systems.append((spacy_full, "spacy", str(args.spacy_model), "fp32", True, spacy_full))
    systems.append((spacy_tags, "spacy", str(args.spacy_model), "fp32", False, spacy_tags))
    return systems


#: (row key, what it measures) of the words/s columns, in table order
SPEED_COLUMNS = (
    ("once_1_thread", "once, 1 thread"),
    ("once_2_threads", "once, 2 threads"),
    ("once_one_core_busy", "once, one core busy"),
    ("repeated_1_thread", "repeated test, 1 thread"),
)


def benchmark(args) -> list:
    rows = []
    for name, system, path, precision, lemmas, baseline in systems_from(args):
        row = {"kind": "speed", "system": name, "path": path, "precision": precision, "lemmas": lemmas,
               "baseline": baseline, "cpu": cpu_model(), "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
               "treebank": "en_ewt", "corpus": "train, tagged once"}
        common = dict(lemmas=lemmas, precision=precision)
        one = run_measurement(system, path, args.ud, threads=1, repeats=args.repeats, accuracy=True,
                              latency_calls=args.latency_calls, **common)
        once = {"1_thread": [one], "2_threads": [], "one_core_busy": []}
        for run in range(args.runs):  # fresh processes, interleaved: this machine's speed drifts by 10%
            if run:
                once["1_thread"].append(run_measurement(system, path, args.ud, threads=1,
                                                        latency_calls=args.latency_calls, **common))
            once["2_threads"].append(run_measurement(system, path, args.ud, threads=2, **common))
            once["one_core_busy"].append(run_measurement(system, path, args.ud, threads=None, busy=True, **common))
        median = {key: statistics.median(r["once_words_per_second"] for r in runs) for key, runs in once.items()}
        row.update(
            once_1_thread=median["1_thread"], once_2_threads=median["2_threads"],
            once_one_core_busy=median["one_core_busy"], busy_default_threads=once["one_core_busy"][0]["threads"],
            once_runs={key: [round(r["once_words_per_second"]) for r in runs] for key, runs in once.items()},
            repeated_1_thread=one.get("repeated_words_per_second"), n_words=one["n_words"],
            latency_ms=latency_median(once["1_thread"]),
            latency_runs=[r["latency_ms"]["median"] for r in once["1_thread"] if "latency_ms" in r],
            load_seconds=one["load_seconds"], peak_rss_mb=one["peak_rss_mb"],
            accuracy=one["accuracy"],
        )
        print(json.dumps(row), flush=True)
        rows.append(row)
    by_name = {row["system"]: row for row in rows}
    for row in rows:
        base = by_name[row["baseline"]]
        row["ratio_to_spacy"] = {key: round(row[key] / base[key], 2) for key, _ in SPEED_COLUMNS if row.get(key)}
    if (Path(args.model) / "config.cfg").exists():
        flops = bilstm_flops_per_word(Path(args.model))
        matmul = matmul_flops_per_second(1)
        rows[1]["limit"] = {"flops_per_word": flops, "matmul_flops_per_second_1_thread": round(matmul),
                            "achieved_share": round(flops * rows[1]["once_1_thread"] / matmul, 3)}
    return rows


def render(rows: list) -> str:
    def f(v, digits=0):
        return f"{v:,.{digits}f}"

    lines = [
        f"CPU: {rows[0]['cpu']} ({rows[0]['cores']} cores), {rows[0]['date']}; {len(rows)} systems in one run, "
        f"each measurement in a fresh process. \"once\": EWT train ({f(rows[0]['n_words'])} words) tagged once "
        f"after a warm-up on EWT dev, median of {len(rows[0]['once_runs']['1_thread'])} processes; "
        "\"one core busy\": the process's default threads, a busy loop on one core; "
        "\"repeated test\": median of 5 passes over EWT test after a warm-up on it; latency: the median over the "
        "1-thread processes of each one's median and 99th percentile. Ratio: ours / the spaCy row named in the last "
        "column, pair by pair.",
        "",
        "| system | UPOS | XPOS | UFeats | Lemmas | "
        + " | ".join(f"w/s {label} | ratio" for _, label in SPEED_COLUMNS)
        + " | `nlp(text)` ms median / p99 | load s | peak RSS MB | against |",
        "|---|---|---|---|---|" + "---|---|" * len(SPEED_COLUMNS) + "---|---|---|---|",
    ]
    for r in rows:
        a, q = r["accuracy"], r["ratio_to_spacy"]
        a = {k: f"{a[k]:.2f}" if k in a else "n/a" for k in ("upos", "xpos", "ufeats", "lemma")}
        speeds = " | ".join(
            f"{f(r[key])} | {q[key]:.2f}" if r.get(key) else "n/a | n/a" for key, _ in SPEED_COLUMNS
        )
        lines.append(
            f"| {r['system']} | {a['upos']} | {a['xpos']} | {a['ufeats']} | {a['lemma']} | {speeds} | "
            f"{r['latency_ms']['median']:.2f} / {r['latency_ms']['p99']:.2f} | {r['load_seconds']:.2f} | "
            f"{r['peak_rss_mb']:.0f} | {r['baseline']} |"
        )
    row = next((r for r in rows if "limit" in r), None)
    if row:
        limit = row["limit"]
        lines += ["", f"Distance from the limit ({row['system']}, 1 thread, tagged once): "
                  f"{limit['flops_per_word'] / 1e6:.2f} MFLOP per word x {f(row['once_1_thread'])} words/s = "
                  f"{limit['flops_per_word'] * row['once_1_thread'] / 1e9:.1f} GFLOP/s, against "
                  f"{limit['matmul_flops_per_second_1_thread'] / 1e9:.1f} GFLOP/s for a 1024 x 1024 float32 matrix "
                  f"product: **{100 * limit['achieved_share']:.0f}% of the machine's matmul rate** (the recurrence "
                  "only: characters, lemmas and spaCy's own work are on top)."]
    return "\n".join(lines)


def record(rows: list, command: str) -> None:
    from bilstm_tagger.files import atomic_write_text

    for row in rows:
        row["command"] = command
    existing = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else []
    kept = [r for r in existing if r.get("kind") != "speed"]
    atomic_write_text(RESULTS_JSON, json.dumps(kept + rows, indent=2) + "\n")
    write_generated(MARKERS, f"Generated by `{command}`.\n\n" + render(rows))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("measure", help="one measurement in this process (used by the benchmark)")
    one.add_argument("--system", choices=["ours", "spacy"], required=True)
    one.add_argument("--path", required=True)
    one.add_argument("--ud", type=Path, required=True)
    one.add_argument("--threads", type=int, default=1, help="0: the process's default")
    one.add_argument("--batch-size", type=int, default=1000)
    one.add_argument("--repeats", type=int, default=0)
    one.add_argument("--latency-calls", type=int, default=0)
    one.add_argument("--precision", default="fp32")
    one.add_argument("--no-lemmas", dest="lemmas", action="store_false")
    one.add_argument("--accuracy", action="store_true")
    one.add_argument("--float-steps", action="store_true", help="ours: the step loops in float32 (int8_steps = false)")
    on_gpu = sub.add_parser("gpu", help="GPU words/s of one model (bench/gpu.sh)")
    on_gpu.add_argument("--model", type=Path, required=True)
    on_gpu.add_argument("--test", type=Path, required=True)
    on_gpu.add_argument("--copies", type=int, default=20)
    on_gpu.add_argument("--repeats", type=int, default=3)
    on_gpu.add_argument("--batch-words", type=int, nargs="+", default=[4096, 32768, 131072, 524288])
    on_gpu.add_argument("--output", type=Path)
    on_gpu.add_argument("--profile", action="store_true", help="also print a torch.profiler table of one pass")
    parser.add_argument("--model", type=Path, help="our default EWT model directory")
    parser.add_argument("--hmm", type=Path, action="append", help="an HMM model directory (repeatable)")
    parser.add_argument("--fast", action="append", help="DIR[:PRECISION] of our fastest configuration")
    parser.add_argument("--spacy-model", type=Path, help="a trained spaCy pipeline (default: train one)")
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per tagged-once figure (median)")
    parser.add_argument("--latency-calls", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.command == "measure":
        print(json.dumps(measure(args)))
        return 0
    if args.command == "gpu":
        result = gpu(args)
        if args.output:
            args.output.write_text(json.dumps(result, indent=1) + "\n")
        return 0
    ewt = args.ud / "en_ewt"
    if not (ewt / "en_ewt-ud-train.conllu").exists():
        print(f"skipped: {ewt} has no train file (the UD treebanks live in ../shared/ud)")
        return 0
    if args.model is None:
        parser.error("--model is required")
    if args.spacy_model is None:
        from spacy_baseline import train_spacy

        args.spacy_model = train_spacy(train=ewt / "en_ewt-ud-train.conllu", dev=ewt / "en_ewt-ud-dev.conllu",
                                       output=ROOT / "bench" / "out" / "spacy-en_ewt")
    rows = benchmark(args)
    record(rows, "python bench/speed.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
