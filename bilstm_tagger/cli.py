"""The ``bilstm-tagger`` command line: ``train``, ``evaluate``, ``compare`` and ``predict``, thin wrappers over library
calls.

``main(argv)`` returns the exit status instead of exiting, so tests call it in-process. Every
:class:`~bilstm_tagger.errors.BilstmTaggerError` becomes one ``bilstm-tagger: error: ...`` line on stderr and exit
status 1, and so does every operating-system error (a missing or unwritable directory, a full disk, a closed pipe),
named with its path and what to do; argument mistakes exit with 2, as argparse does. ``train``'s flags are config overrides (``--train`` is
``--paths.train``, ``--seed`` is ``--system.seed``, ...); ``evaluate``, ``compare`` and ``predict`` turn theirs into
one :class:`~bilstm_tagger.inference.options.InferenceOptions`. Libraries are imported by the command that needs
them, so ``--help`` and ``evaluate --gold --pred`` never load torch.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from .errors import BilstmTaggerError, ConfigError, FileError
from .files import atomic_write_text
from .inference.options import PRECISIONS, InferenceOptions
from .version import __version__

EXIT_ERROR = 1
EXIT_USAGE = 2


def _device_args(parser: argparse.ArgumentParser, default: Optional[str]) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--device", default=default, help="auto, cpu, cuda or cuda:N" + (f" (default: {default})" if default else " (default: the config's system.device)"))
    group.add_argument("--cpu", dest="device", action="store_const", const="cpu", help="same as --device cpu")
    group.add_argument("--cuda", dest="device", action="store_const", const="cuda", help="same as --device cuda")


def _positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    """argparse type: a number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"must be a number of at least 0, not {text!r}")
    return value


def _precision_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision", choices=list(PRECISIONS), default="fp32",
        help="; ".join(f"{name}: {what}" for name, what in PRECISIONS.items()) + " (default: fp32)",
    )
    parser.add_argument(
        "--float-steps", dest="int8_steps", action="store_const", const=False,
        help="BiLSTM models on the CPU: multiply in float32 in the step-by-step recurrences of the tagger and the "
        "lemmatizer too (default: their states in int8 on a fixed scale, about 1.5x faster at the same accuracy)",
    )


def _decoding_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--beam-size", type=int, help="seq2seq models: beam width for decoding (1 = greedy)")
    parser.add_argument(
        "--unconstrained", dest="constrain_length", action="store_const", const=False,
        help="seq2seq models: let the decoder emit more or fewer tags than words (missing tags count as errors)",
    )
    parser.add_argument(
        "--independent-tags", dest="consistent_tags", action="store_const", const=False,
        help="BiLSTM/RNN models: each head (UPOS, XPOS, FEATS) picks its label on its own (default: UPOS is chosen "
        "together with XPOS and FEATS among the pairs seen in training, where the model records them)",
    )
    parser.add_argument(
        "--no-lemmas", dest="lemmatize", action="store_false",
        help="a model that lemmatizes: tags only (faster; predict then leaves LEMMA as it is)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bilstm-tagger", description="Train, evaluate and run BiLSTM taggers on Universal Dependencies data."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train",
        help="train a model from CoNLL-U files",
        description="Train a model. Any config setting can be overridden as --section.key value, "
        "e.g. --training.max_epochs 3.",
    )
    train.add_argument("config", type=Path, help="a .cfg file, e.g. configs/bilstm.cfg")
    train.add_argument("--train", type=Path, help="training CoNLL-U file (else the config's paths.train)")
    train.add_argument("--dev", type=Path, help="development CoNLL-U file for early stopping (else paths.dev)")
    train.add_argument("--output", "-o", type=Path, required=True, help="model directory to write")
    train.add_argument("--seed", type=int, help="random seed (else the config's system.seed)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--overwrite", action="store_true",
        help="replace what the output directory holds (by default only an unfinished run of the same config and "
        "data is touched: it resumes)",
    )
    _device_args(train, None)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a model, or any tagger's predicted CoNLL-U file, on a gold CoNLL-U file",
        description="Score MODEL on TEST, or a predicted file on a gold one (--gold GOLD --pred PRED). The report "
        "is printed for the terminal; --output writes it in --format (by default inferred from the file's suffix).",
    )
    evaluate.add_argument("model", type=Path, nargs="?", help="model directory")
    evaluate.add_argument("test", type=Path, nargs="?", help="gold CoNLL-U file")
    evaluate.add_argument("--gold", type=Path, help="gold CoNLL-U file (with --pred)")
    evaluate.add_argument("--pred", type=Path, help="predicted CoNLL-U file with the gold words (with --gold)")
    evaluate.add_argument("--train", type=Path, help="with --pred: the training file, to split seen/unseen words")
    _report_args(evaluate)
    _device_args(evaluate, "cpu")
    _precision_arg(evaluate)
    _decoding_args(evaluate)

    compare = commands.add_parser(
        "compare",
        help="compare models and/or predicted files on one gold file, with significance tests",
        description="Score every SYSTEM (a model directory or a predicted CoNLL-U file, optionally NAME=PATH) on "
        "GOLD: overall figures and per-tag F1 side by side, and McNemar's test for every pair.",
    )
    compare.add_argument(
        "systems", nargs="+", metavar="SYSTEM", help="[NAME=]PATH of a model directory or CoNLL-U file"
    )
    compare.add_argument("--gold", type=Path, required=True, help="gold CoNLL-U file")
    _report_args(compare)
    _device_args(compare, "cpu")

    predict = commands.add_parser("predict", help="tag a CoNLL-U or pre-tokenized text file")
    predict.add_argument("model", type=Path, help="model directory")
    predict.add_argument(
        "input", type=Path,
        help="file to tag: CoNLL-U (its tag columns are replaced) or pre-tokenized text (one sentence per line, "
        "words separated by spaces; written out as CoNLL-U); - reads standard input (give --format text for text)",
    )
    predict.add_argument("--output", "-o", type=Path, help="output file (default: standard output)")
    predict.add_argument(
        "--format", dest="input_format", choices=["auto", "conllu", "text"], default="auto",
        help="input format (default auto: text for a .txt file, else CoNLL-U)",
    )
    predict.add_argument("--quiet", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")
    predict.add_argument(
        "--processes", type=_positive_int, default=1,
        help="tag with this many worker processes, one torch thread each (default 1: one process, torch's threads)",
    )
    ray = predict.add_argument_group(
        "Ray", "tag a directory of shards on a Ray cluster: INPUT is a directory of .conllu/.txt shards, --output a "
        "directory that gets one .conllu per shard (needs pip install 'bilstm-tagger[ray]')",
    )
    ray.add_argument(
        "--ray", metavar="ADDRESS",
        help="the cluster: 'auto' (the one this machine is part of), 'local' (start one here) or ray://HOST:PORT",
    )
    ray.add_argument("--actors", type=_positive_int, default=1, help="tagging actors, each loads the model once")
    ray.add_argument("--cpus-per-actor", type=_positive_float, default=1.0, help="CPUs (and torch threads) per actor")
    ray.add_argument("--gpus-per-actor", type=_non_negative_float, default=0.0, help="GPUs per actor (0: CPU actors)")
    _device_args(predict, "cpu")
    _precision_arg(predict)
    _decoding_args(predict)
    return parser


def _report_args(parser: argparse.ArgumentParser) -> None:
    from .evaluation.rendering import FORMATS

    parser.add_argument("--output", "-o", type=Path, action="append",
                        help="write the report here; repeat for several files (format: --format, else the suffix)")
    parser.add_argument("--format", choices=FORMATS, help="report format (default: text on the terminal; for "
                        "--output, from its suffix: .json, .md, .html, .csv, else text)")
    parser.add_argument("--xpos", action="store_true", help="per-tag tables and confusions for XPOS too")


def _tag_tables(args: argparse.Namespace) -> tuple:
    return ("upos", "xpos") if args.xpos else ("upos",)


SUFFIX_FORMATS = {".json": "json", ".md": "markdown", ".html": "html", ".htm": "html", ".csv": "csv"}


def _write_report(data: dict, args: argparse.Namespace) -> None:
    """Print the terminal rendering (or --format, without --output) and write each --output in its format."""
    from .evaluation.rendering import render

    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    if not args.output:
        fmt = args.format or "text"
        print(render(data, fmt, color=color and fmt == "text"), end="" if fmt != "text" else "\n")
        return
    print(render(data, "text", color=color))
    for path in args.output:
        fmt = args.format or SUFFIX_FORMATS.get(path.suffix.lower(), "text")
        atomic_write_text(path, render(data, fmt))
        print(f"{fmt} report written to {path}")


def _parse_overrides(extra: Sequence[str]) -> dict:
    """``--section.key value`` pairs as a dict, values parsed as JSON where they parse (spaCy's own parser)."""
    from spacy.cli._util import parse_config_overrides

    for arg in extra:
        if arg.startswith("--") and "." not in arg.split("=", 1)[0]:
            raise ConfigError(f"unknown option {arg}: config overrides look like --section.key value")
    return parse_config_overrides(list(extra), env_var=None)


#: train's flags, and the config setting each one overrides
TRAIN_FLAGS = {"train": "paths.train", "dev": "paths.dev", "seed": "system.seed", "device": "system.device"}


def run_train(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from .training.config import load_config
    from .training.loop import train

    overrides = _parse_overrides(extra)
    for flag, setting in TRAIN_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides[setting] = str(value) if isinstance(value, Path) else value
    config = load_config(args.config, overrides=overrides)
    result = train(config, output_dir=args.output, progress=not args.quiet, overwrite=args.overwrite)
    if result.rank != 0:  # under torchrun, rank 0 reports
        return 0
    dev = " ".join(f"{k}={v:.2f}" for k, v in result.best_dev.items() if v is not None)
    lexicon = f"lexicon {result.lexicon}" if result.lexicon else "no lexicon"
    print(
        f"best dev ({dev}) at epoch {result.best_epoch} of {result.epochs}, "
        f"{result.seconds / 60:.1f} min, {lexicon}; model written to {result.output_dir}"
    )
    for warning in result.warnings:
        print(f"bilstm-tagger: warning: {warning}", file=sys.stderr)
    return 0


def _inference_options(args: argparse.Namespace) -> InferenceOptions:
    """The command's inference flags, checked once here."""
    return InferenceOptions(
        device=args.device,
        precision=getattr(args, "precision", "fp32"),
        beam_size=getattr(args, "beam_size", None),
        constrain_length=getattr(args, "constrain_length", None),
        consistent_tags=getattr(args, "consistent_tags", None),
        lemmatize=getattr(args, "lemmatize", True),
        int8_steps=getattr(args, "int8_steps", None),
    )


def run_evaluate(args: argparse.Namespace) -> int:
    tables = _tag_tables(args)
    if args.pred is not None:
        from .evaluation.scoring import evaluate_file

        train_forms = None
        if args.train is not None:
            from .corpus import iter_conllu

            train_forms = {w.form for sentence in iter_conllu(args.train) for w in sentence.words}
        report = evaluate_file(args.gold, args.pred, train_forms=train_forms, tag_tables=tables)
    else:
        from .inference.prediction import evaluate_model
        from .inference.tagger import load_model

        report = evaluate_model(load_model(args.model, _inference_options(args)), args.test, tag_tables=tables)
    _write_report(report, args)
    return 0


def _check_evaluate_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exactly one of MODEL TEST or --gold --pred (argparse cannot say "one of these pairs")."""
    positional = args.model is not None or args.test is not None
    files = args.gold is not None or args.pred is not None
    incomplete = (positional and args.test is None) or (files and (args.gold is None or args.pred is None))
    if positional == files or incomplete:
        parser.error("evaluate takes MODEL TEST, or --gold GOLD --pred PRED")
    if args.train is not None and not files:
        parser.error("--train goes with --pred (a model knows its own training words)")


def run_compare(args: argparse.Namespace) -> int:
    import functools

    from .evaluation.comparison import compare_paths
    from .inference.prediction import tag_gold

    tag_model = functools.partial(tag_gold, options=_inference_options(args))
    result = compare_paths(args.gold, args.systems, tag_model=tag_model, tag_tables=_tag_tables(args))
    _write_report(result, args)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from .inference.prediction import predict_file
    from .inference.tagger import load_model

    if args.ray is not None:
        return _predict_with_ray(args)

    if args.processes > 1:
        # the workers are forked CPU processes, and a process that has started CUDA cannot fork one that uses it
        if args.device not in ("auto", "cpu"):
            raise BilstmTaggerError(
                f"--processes {args.processes} tags with CPU worker processes; on a GPU (--device {args.device}) "
                "tag with one process, which sends the GPU a whole chunk of sentences at a time"
            )
        args.device = "cpu"
    tagger = load_model(args.model, _inference_options(args))
    words = predict_file(
        tagger, input_path=args.input, output_path=args.output, input_format=args.input_format,
        progress=not args.quiet, processes=args.processes,
    )
    if args.output:
        print(f"tagged {words} words into {args.output}", file=sys.stderr)
    return 0


def _predict_with_ray(args: argparse.Namespace) -> int:
    from .ray_tagging import require_ray, tag_shards

    if args.output is None:
        raise BilstmTaggerError("predict --ray writes one shard per input shard: give the output directory as --output")
    if args.processes != 1:
        raise BilstmTaggerError("predict --ray: give --actors (Ray's workers), not --processes")
    if args.gpus_per_actor > 0 and args.device == "cpu":  # the default: GPU actors tag on their GPU
        args.device = "cuda"
    options = _inference_options(args)
    ray = require_ray()
    # a process already connected (a notebook, a test) keeps its connection
    ray.init(**({"include_dashboard": False} if args.ray == "local" else {"address": args.ray}), ignore_reinit_error=True)
    records = tag_shards(
        model_dir=args.model, input_dir=args.input, output_dir=args.output, actors=args.actors,
        num_cpus=args.cpus_per_actor, num_gpus=args.gpus_per_actor, options=options,
    )
    words = sum(record["words"] for record in records)
    print(f"tagged {words} words in {len(records)} shards into {args.output}", file=sys.stderr)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code or 0)
    if extra and args.command != "train":
        parser.print_usage(sys.stderr)
        print(f"bilstm-tagger: error: unrecognized arguments: {' '.join(extra)}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "evaluate":
        try:
            _check_evaluate_args(parser, args)
        except SystemExit as exc:
            return int(exc.code or 0)
    try:
        if args.command == "train":
            return run_train(args, extra)
        if args.command == "evaluate":
            return run_evaluate(args)
        if args.command == "compare":
            return run_compare(args)
        return run_predict(args)
    except BilstmTaggerError as exc:
        print(f"bilstm-tagger: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("bilstm-tagger: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (`... | head`); later writes to stdout (at exit) must not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("bilstm-tagger: error: the output was closed before it was complete (broken pipe)", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # one the library did not already name (it wraps the files the user gave)
        print(f"bilstm-tagger: error: {FileError(exc)}", file=sys.stderr)
        return EXIT_ERROR


def run() -> None:
    """The ``bilstm-tagger`` command: :func:`main`, then exit without Python's shutdown collecting every object
    torch created.

    At exit Python collects the cycles of every module it clears; with torch imported that is most of a million
    objects, 0.3-0.45 s of every command (the same time whatever the command did). :func:`gc.freeze` first moves them
    out of the collector's reach; atexit handlers, flushing and closing still run as usual.
    """
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
