"""Tagging speed, our component against spaCy's own tagger+morphologizer, measured in one run on one machine.

Usage (from the repository root, after `make venv`):

    .venv/bin/python bench/speed.py --model bench/out/en_ewt-bilstm --hmm bench/out/en_ewt-hmm-trigram \\
        --fast bench/out/en_ewt-bilstm:bf16 [--spacy-model bench/out/spacy-en_ewt/model-best]

Without ``--spacy-model`` it trains spaCy's pipeline first (``bench/spacy_baseline.py``). Every measurement runs
in a fresh process (``speed.py measure``), so thread settings, load time and peak RSS are each system's own. Each
system tags the EWT test set as pre-tokenized Docs (gold UD words) through ``nlp.pipe``:

- words/s: median of ``--repeats`` timed passes after one warm-up pass, with 1 thread, with 2, and with
  ``n_process=2``; ratios ours/spaCy are taken pair by pair (same threads, same batch size);
- a batch-size sweep (1 thread); single-sentence latency (``nlp(doc)``, median and 99th percentile over
  ``--latency-calls`` calls); load time (pipeline load and the first Doc); peak RSS of the tagging process;
- UPOS / XPOS / UFeats accuracy of what it tagged, so that speed sits beside accuracy.

Rows go to ``bench/results.json`` (``"kind": "speed"``) and a table between markers in ``bench/RESULTS.md``.
``speed.py gpu --model DIR`` measures GPU words/s with a batch sweep instead (``bench/gpu.sh`` runs it).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchmark import cpu_model, write_generated  # noqa: E402

RESULTS_JSON = ROOT / "bench" / "results.json"
MARKERS = ("<!-- speed-table:start -->", "<!-- speed-table:end -->")
BATCH_SIZES = (1, 16, 128, 1000, 4000)


# -- one measurement, in its own process ---------------------------------------------------------------------------


def load_pipeline(system: str, path: str, precision: str, device: str):
    """A spaCy pipeline that tags: spaCy's own (``system == "spacy"``) or ours around a model directory."""
    import spacy

    if system == "spacy":
        return spacy.load(path)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": path, "device": device, "precision": precision})
    return nlp


def gold_docs(nlp, sentences):
    from spacy.tokens import Doc

    return [Doc(nlp.vocab, words=s.forms) for s in sentences]


def accuracy(docs, sentences) -> dict:
    """UPOS / XPOS / UFeats accuracy of what the pipeline wrote on the Docs, scored as `bilstm-tagger evaluate`
    scores (the CoNLL 2018 evaluator's definitions)."""
    from bilstm_tagger.evaluation.scoring import score

    predicted = [
        {"upos": [t.pos_ for t in doc], "xpos": [t.tag_ for t in doc], "feats": [str(t.morph) or "_" for t in doc]}
        for doc in docs
    ]
    metrics = score(sentences, predicted)["metrics"]
    return {name: round(metrics[name]["accuracy"], 2) for name in ("upos", "xpos", "ufeats")}


def measure(args) -> dict:
    """Run in a fresh process: load, tag, time; print one JSON object."""
    import torch

    from bilstm_tagger import read_conllu

    torch.set_num_threads(args.threads)
    sentences = read_conllu(args.test)
    n_words = sum(len(s) for s in sentences)
    start = time.perf_counter()
    nlp = load_pipeline(args.system, args.path, args.precision, "cpu")
    nlp(gold_docs(nlp, sentences[:1])[0])  # our component reads its model on first use: count it
    load_seconds = time.perf_counter() - start
    result = {"threads": args.threads, "n_process": args.n_process, "load_seconds": round(load_seconds, 3)}
    runs = []
    for i in range(args.repeats + 1):
        docs = gold_docs(nlp, sentences)
        start = time.perf_counter()
        tagged = list(nlp.pipe(docs, batch_size=args.batch_size, n_process=args.n_process))
        if i > 0:  # the first pass is the warm-up
            runs.append(n_words / (time.perf_counter() - start))
    scores = accuracy(tagged, sentences)
    if args.system == "ours":  # a target the model does not predict is "n/a", not the share of words without it
        labels = json.loads((Path(args.path) / "labels.json").read_text())
        scores = {k: v for k, v in scores.items() if {"ufeats": "feats"}.get(k, k) in labels}
    result.update(words_per_second=round(statistics.median(runs), 1), runs=[round(r) for r in runs],
                  batch_size=args.batch_size, n_words=n_words, accuracy=scores)
    if args.latency_calls:
        docs = gold_docs(nlp, sentences[: args.latency_calls])
        times = []
        for doc in docs:
            start = time.perf_counter()
            nlp(doc)
            times.append(time.perf_counter() - start)
        times.sort()
        result["latency_ms"] = {"median": round(1000 * statistics.median(times), 3),
                                "p99": round(1000 * times[int(0.99 * (len(times) - 1))], 3), "calls": len(times)}
    # ru_maxrss is in KiB on Linux; n_process=2 workers are children
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["peak_rss_mb"] = round(max(rss, children) / 1024, 1)
    return result


def run_measurement(system: str, path: str, test: Path, *, threads: int, batch_size: int, repeats: int,
                    n_process: int = 1, latency_calls: int = 0, precision: str = "fp32") -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        env[name] = str(threads)
    command = [sys.executable, str(Path(__file__).resolve()), "measure", "--system", system, "--path", path,
               "--test", str(test), "--threads", str(threads), "--batch-size", str(batch_size),
               "--repeats", str(repeats), "--n-process", str(n_process), "--latency-calls", str(latency_calls),
               "--precision", precision]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
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
    systems = [(f"{Path(args.model).name} (default)", "ours", str(args.model), "fp32")]
    for path in args.hmm or []:
        systems.append((Path(path).name, "ours", str(path), "fp32"))
    for fast in args.fast or []:
        path, _, precision = fast.partition(":")
        systems.append((f"{Path(path).name} {precision or 'fp32'}", "ours", path, precision or "fp32"))
    systems.append(("spaCy tagger+morphologizer", "spacy", str(args.spacy_model), "fp32"))
    return systems


def benchmark(args) -> list:
    rows = []
    for name, system, path, precision in systems_from(args):
        row = {"kind": "speed", "system": name, "path": path, "precision": precision, "cpu": cpu_model(),
               "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"), "treebank": "en_ewt", "split": "test"}
        common = dict(repeats=args.repeats, precision=precision)
        one = run_measurement(system, path, args.test, threads=1, batch_size=1000, latency_calls=args.latency_calls,
                              **common)
        two = run_measurement(system, path, args.test, threads=2, batch_size=1000, **common)
        procs = run_measurement(system, path, args.test, threads=1, batch_size=1000, n_process=2, **common)
        sweep = {}
        for batch_size in args.batch_sizes:
            if batch_size == 1000:
                sweep[batch_size] = one["words_per_second"]
            else:
                sweep[batch_size] = run_measurement(system, path, args.test, threads=1, batch_size=batch_size,
                                                    **common)["words_per_second"]
        row.update(words_per_second_1_thread=one["words_per_second"], words_per_second_2_threads=two["words_per_second"],
                   words_per_second_2_processes=procs["words_per_second"], batch_sweep_1_thread=sweep,
                   latency_ms=one["latency_ms"], load_seconds=one["load_seconds"], peak_rss_mb=one["peak_rss_mb"],
                   accuracy=one["accuracy"], runs={"1_thread": one["runs"], "2_threads": two["runs"],
                                                   "2_processes": procs["runs"]})
        print(json.dumps(row), flush=True)
        rows.append(row)
    flops = bilstm_flops_per_word(Path(args.model))
    matmul = matmul_flops_per_second(1)
    rows[0]["limit"] = {"flops_per_word": flops, "matmul_flops_per_second_1_thread": round(matmul),
                        "achieved_share": round(flops * rows[0]["words_per_second_1_thread"] / matmul, 3)}
    baseline = rows[-1]
    for row in rows:
        row["ratio_to_spacy"] = {
            key: round(row[key] / baseline[key], 2)
            for key in ("words_per_second_1_thread", "words_per_second_2_threads", "words_per_second_2_processes")
        }
    return rows


def render(rows: list) -> str:
    def f(v, digits=0):
        return f"{v:,.{digits}f}"

    sizes = list(rows[0]["batch_sweep_1_thread"])
    lines = [
        f"CPU: {rows[0]['cpu']} ({rows[0]['cores']} cores), {rows[0]['date']}; EWT test, {len(rows)} systems in one "
        "run; words/s = median of 5 passes after a warm-up; ratio = ours / spaCy, pair by pair.",
        "",
        "| system | UPOS | XPOS | UFeats | w/s 1 thread | ratio | w/s 2 threads | ratio | w/s n_process=2 | ratio "
        "| latency median ms | latency p99 ms | load s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a, q = r["accuracy"], r["ratio_to_spacy"]
        a = {k: f"{a[k]:.2f}" if k in a else "n/a" for k in ("upos", "xpos", "ufeats")}
        lines.append(
            f"| {r['system']} | {a['upos']} | {a['xpos']} | {a['ufeats']} | "
            f"{f(r['words_per_second_1_thread'])} | {q['words_per_second_1_thread']:.2f} | "
            f"{f(r['words_per_second_2_threads'])} | {q['words_per_second_2_threads']:.2f} | "
            f"{f(r['words_per_second_2_processes'])} | {q['words_per_second_2_processes']:.2f} | "
            f"{r['latency_ms']['median']:.2f} | {r['latency_ms']['p99']:.2f} | {r['load_seconds']:.2f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    lines += ["", "Batch-size sweep (Docs per `nlp.pipe` batch, 1 thread, words/s):", "",
              "| system | " + " | ".join(str(s) for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for r in rows:
        lines.append(f"| {r['system']} | " + " | ".join(f(r["batch_sweep_1_thread"][s]) for s in sizes) + " |")
    limit = rows[0].get("limit")
    if limit:
        lines += ["", f"Distance from the limit ({rows[0]['system']}, 1 thread): {limit['flops_per_word'] / 1e6:.2f} "
                  f"MFLOP per word x {f(rows[0]['words_per_second_1_thread'])} words/s = "
                  f"{limit['flops_per_word'] * rows[0]['words_per_second_1_thread'] / 1e9:.1f} GFLOP/s, against "
                  f"{limit['matmul_flops_per_second_1_thread'] / 1e9:.1f} GFLOP/s for a 1024 x 1024 float32 matrix "
                  f"product: **{100 * limit['achieved_share']:.0f}% of the machine's matmul rate**."]
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
    one.add_argument("--test", type=Path, required=True)
    one.add_argument("--threads", type=int, default=1)
    one.add_argument("--batch-size", type=int, default=1000)
    one.add_argument("--repeats", type=int, default=5)
    one.add_argument("--n-process", type=int, default=1)
    one.add_argument("--latency-calls", type=int, default=0)
    one.add_argument("--precision", default="fp32")
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
    parser.add_argument("--latency-calls", type=int, default=1000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES))
    args = parser.parse_args(argv)
    if args.command == "measure":
        print(json.dumps(measure(args)))
        return 0
    if args.command == "gpu":
        result = gpu(args)
        if args.output:
            args.output.write_text(json.dumps(result, indent=1) + "\n")
        return 0
    args.test = args.ud / "en_ewt" / "en_ewt-ud-test.conllu"
    if not args.test.exists():
        print(f"skipped: {args.test} not found (the UD treebanks live in ../shared/ud)")
        return 0
    if args.model is None:
        parser.error("--model is required")
    if args.spacy_model is None:
        from spacy_baseline import train_spacy

        ewt = args.ud / "en_ewt"
        args.spacy_model = train_spacy(train=ewt / "en_ewt-ud-train.conllu", dev=ewt / "en_ewt-ud-dev.conllu",
                                       output=ROOT / "bench" / "out" / "spacy-en_ewt")
    rows = benchmark(args)
    record(rows, "python bench/speed.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
