"""Try to break the command line the ways users do, and count what happens: the reliability table of RESULTS.md.

Usage (from the repository root, after `make venv`; about a minute on 2 cores):

    .venv/bin/python bench/reliability.py [--cases 300] [--seed 0]

Each case runs ``bilstm-tagger`` in-process (``cli.main``) and is counted as *done* (exit 0), a *clear error*
(exit 1 with one ``bilstm-tagger: error: ...`` line naming what is wrong, or argparse's usage message and exit 2
for a malformed argument) or a *traceback* (any exception that escapes, or any other exit status or message). Categories:

- malformed CoNLL-U: random mutations (characters deleted, inserted, replaced; lines dropped, repeated, swapped;
  invalid UTF-8) of sentences from ``data/``, through ``predict`` and ``evaluate --gold --pred``;
- damaged model directories: files deleted, truncated, overwritten with random bytes or another model's, and
  ``meta.json`` edited, through ``predict``;
- operating-system errors: missing or file-blocked output directories, an output that is a directory, refused
  writes and a full disk (simulated: this runs as root), unreadable and missing inputs, a closed pipe;
- options and configs: values out of range, options a family lacks, config typos, an output that holds a model;
- resume: a training run killed with SIGKILL mid-epoch and run again, against an uninterrupted one (weights equal
  bit for bit or not).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bilstm_tagger.cli import main  # noqa: E402

DATA = ROOT / "data"
TRAIN, DEV, TEST = (DATA / f"en_ewt-sample-{split}.conllu" for split in ("train", "dev", "test"))


def outcome(argv, *, patches=()) -> str:
    """Run the CLI once: "done", "clear error" or "traceback"."""
    stderr = io.StringIO()
    try:
        with contextlib.ExitStack() as stack:
            for patch in patches:
                stack.enter_context(patch)
            stack.enter_context(contextlib.redirect_stderr(stderr))
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            code = main(argv)
    except BaseException:  # noqa: BLE001 - anything escaping main is what we count
        return "traceback"
    lines = stderr.getvalue().splitlines()
    if code == 0:
        return "done"
    if code == 1 and len(lines) == 1 and lines[0].startswith("bilstm-tagger: error: ") and "Traceback" not in lines[0]:
        return "clear error"
    if code == 2 and lines and lines[0].startswith("usage: ") and ": error: " in lines[-1]:  # argparse's
        return "clear error"
    return "traceback"


def mutate(text: str, rng: random.Random) -> bytes:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["delete", "insert", "replace", "drop line", "repeat line", "swap lines", "bytes"])
        i = rng.randrange(len(lines))
        line = lines[i]
        j = rng.randrange(max(len(line), 1))
        junk = rng.choice(["\t", "\n", "_", "=", "|", "#", "-", ".", "1", "0", " ", "é", "\r", "ADVERB", "Case", ""])
        if kind == "delete":
            lines[i] = line[:j] + line[j + 1:]
        elif kind == "insert":
            lines[i] = line[:j] + junk + line[j:]
        elif kind == "replace":
            lines[i] = line[:j] + junk + line[j + 1:]
        elif kind == "drop line":
            del lines[i]
        elif kind == "repeat line":
            lines.insert(i, line)
        elif kind == "swap lines":
            k = rng.randrange(len(lines))
            lines[i], lines[k] = lines[k], lines[i]
        if not lines:
            lines = ["\n"]
    data = "".join(lines).encode("utf-8")
    if rng.random() < 0.1:
        k = rng.randrange(len(data) + 1)
        data = data[:k] + bytes([rng.choice([0xFF, 0xC3, 0x80, 0xFE])]) + data[k:]
    return data


def sentences_text(n: int, rng: random.Random) -> str:
    blocks = TEST.read_text(encoding="utf-8").split("\n\n")
    return "\n\n".join(rng.sample(blocks[:-1], n)) + "\n\n"


def malformed_conllu(work: Path, model: Path, cases: int, rng: random.Random) -> Counter:
    counts: Counter = Counter()
    for case in range(cases):
        path = work / f"mutated-{case}.conllu"
        path.write_bytes(mutate(sentences_text(3, rng), rng))
        counts[outcome(["predict", str(model), str(path), "-o", str(work / "out.conllu")])] += 1
        counts[outcome(["evaluate", "--gold", str(TEST), "--pred", str(path)])] += 1
    return counts


def damaged_models(work: Path, model: Path, other: Path, cases: int, rng: random.Random) -> Counter:
    counts: Counter = Counter()
    names = sorted(p.name for p in model.iterdir())
    for case in range(cases):
        damaged = work / f"damaged-{case}"
        shutil.copytree(model, damaged)
        name = rng.choice(names)
        target = damaged / name
        kind = rng.choice(["delete", "truncate", "random bytes", "flip a byte", "other model's", "meta edit"])
        if kind == "delete":
            target.unlink()
        elif kind == "truncate":
            target.write_bytes(target.read_bytes()[: rng.randrange(max(target.stat().st_size, 1))])
        elif kind == "random bytes":
            target.write_bytes(os.urandom(rng.randint(0, 200)))
        elif kind == "flip a byte":
            data = bytearray(target.read_bytes())
            if data:
                data[rng.randrange(len(data))] ^= 0xFF
            target.write_bytes(bytes(data))
        elif kind == "other model's" and (other / name).exists():
            shutil.copy(other / name, target)
        else:
            meta = json.loads((damaged / "meta.json").read_text())
            edit = rng.choice(["no parts", "not an object", "newer format", "one part less", "string version"])
            if edit == "no parts":
                meta.pop("parts")
            elif edit == "one part less":
                meta["parts"].pop(rng.choice(sorted(meta["parts"])))
            elif edit == "newer format":
                meta["format_version"] = 99
            elif edit == "string version":
                meta["format_version"] = "1"
            else:
                meta = [meta]
            (damaged / "meta.json").write_text(json.dumps(meta))
        counts[outcome(["predict", str(damaged), str(TEST), "-o", str(work / "out.conllu")])] += 1
        shutil.rmtree(damaged)
    return counts


def os_errors(work: Path, model: Path) -> Counter:
    import tempfile as tempfile_module

    from bilstm_tagger import corpus, files

    def raising(error):
        def fail(*args, **kwargs):
            raise error

        return fail

    a_file = work / "a-file.txt"
    a_file.write_text("x")
    (work / "a-dir").mkdir(exist_ok=True)
    full_disk = mock.patch.object(files.os, "fsync", raising(OSError(errno.ENOSPC, "No space left on device")))
    refused = mock.patch.object(tempfile_module, "mkstemp", raising(PermissionError(errno.EACCES, "Permission denied")))
    refused_dir = mock.patch.object(tempfile_module, "mkdtemp", raising(PermissionError(errno.EACCES, "Permission denied")))
    unreadable = mock.patch.object(corpus, "open", raising(PermissionError(errno.EACCES, "Permission denied")), create=True)
    train = ["train", str(ROOT / "configs" / "tiny.cfg"), "--train", str(TRAIN), "--dev", str(DEV), "--quiet",
             "--training.max_epochs", "1"]
    cases = [
        (["predict", str(model), str(TEST), "-o", str(work / "missing" / "x.conllu")], ()),
        (["predict", str(model), str(TEST), "-o", str(a_file / "x.conllu")], ()),
        (["predict", str(model), str(TEST), "-o", str(work / "a-dir")], ()),
        (["predict", str(model), str(TEST), "-o", str(work / "x.conllu")], (refused,)),
        (["predict", str(model), str(TEST), "-o", str(work / "x.conllu")], (full_disk,)),
        (["predict", str(model), str(TEST)], (unreadable,)),
        (["predict", str(model), str(work / "missing.conllu")], ()),
        (["predict", str(model), str(work / "a-dir")], ()),
        (["evaluate", str(model), str(TEST), "-o", str(work / "missing" / "r.html")], ()),
        (["evaluate", str(model), str(TEST), "-o", str(work / "r.json")], (full_disk,)),
        (["evaluate", str(work / "missing-model"), str(TEST)], ()),
        (["evaluate", str(a_file), str(TEST)], ()),
        ([*train, "--output", str(a_file)], ()),
        ([*train, "--output", str(work / "missing" / "deeper" / "m")], ()),
        ([*train, "--output", str(work / "m-full")], (full_disk,)),
        ([*train, "--output", str(work / "m-refused")], (refused_dir,)),
        ([*train, "--output", str(work / "a-dir-with-file")], ()),
    ]
    (work / "a-dir-with-file").mkdir(exist_ok=True)
    (work / "a-dir-with-file" / "notes.txt").write_text("mine")
    counts = Counter(outcome(argv, patches=patches) for argv, patches in cases)
    # a closed pipe: `predict ... | head -c 100`
    command = f"{sys.executable} -m bilstm_tagger predict {model} {TEST} | head -c 100 > /dev/null"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ROOT, capture_output=True, text=True)
    lines = done.stderr.splitlines()
    clear = done.returncode == 1 and len(lines) == 1 and lines[0].startswith("bilstm-tagger: error: ")
    counts["clear error" if clear else "traceback"] += 1
    return counts


def options_and_configs(work: Path, model: Path, hmm: Path) -> Counter:
    train = ["train", str(ROOT / "configs" / "tiny.cfg"), "--train", str(TRAIN), "--dev", str(DEV), "--quiet"]
    cases = [
        ["predict", str(model), str(TEST), "--precision", "fp64"],
        ["predict", str(model), str(TEST), "--beam-size", "0"],
        ["predict", str(model), str(TEST), "--beam-size", "3"],
        ["predict", str(model), str(TEST), "--device", "gpu"],
        ["predict", str(hmm), str(TEST), "--precision", "int8"],
        ["predict", str(hmm), str(TEST), "--device", "cuda"],
        ["predict", str(hmm), str(TEST), "--unconstrained"],
        [*train, "--output", str(work / "o1"), "--system.sed", "1"],
        [*train, "--output", str(work / "o2"), "--training.epochs", "1"],
        [*train, "--output", str(work / "o3"), "--system.device", "gpu"],
        [*train, "--output", str(work / "o4"), "--training.targets", '["lemma"]'],
        [*train, "--output", str(work / "o5"), "--model.hiden", "3"],
        [*train, "--output", str(work / "o6"), "--trainig.max_epochs", "3"],
        [*train, "--output", str(model)],
        ["train", str(work / "missing.cfg"), "--output", str(work / "o7")],
    ]
    return Counter(outcome(argv) for argv in cases)


def resume_equality(work: Path) -> bool:
    args = ["train", str(ROOT / "configs" / "tiny.cfg"), "--train", str(TRAIN), "--dev", str(DEV), "--quiet",
            "--training.max_minutes", "0", "--training.max_epochs", "4", "--training.patience", "10"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "bilstm_tagger", *args, "--output", str(work / "whole")], cwd=ROOT,
                   env=env, check=True)
    process = subprocess.Popen([sys.executable, "-m", "bilstm_tagger", *args, "--output", str(work / "killed")],
                               cwd=ROOT, env=env)
    state = work / "killed" / "checkpoint.json"
    while not (state.is_file() and json.loads(state.read_text())["epoch"] >= 2):
        time.sleep(0.02)
    time.sleep(0.15)
    process.send_signal(signal.SIGKILL)
    process.wait()
    subprocess.run([sys.executable, "-m", "bilstm_tagger", *args, "--output", str(work / "killed")], cwd=ROOT,
                   env=env, check=True)
    return (work / "whole" / "model.safetensors").read_bytes() == (work / "killed" / "model.safetensors").read_bytes()


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300, help="random cases per random category")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        common = ["--train", str(TRAIN), "--dev", str(DEV), "--quiet"]
        for name, config, extra in (("model", "tiny.cfg", ["--training.max_epochs", "2"]),
                                    ("other", "tiny.cfg", ["--training.max_epochs", "1", "--model.hidden", "32"]),
                                    ("hmm", "hmm.cfg", [])):
            assert main(["train", str(ROOT / "configs" / config), *common, "--output", str(work / name), *extra]) == 0
        model, other, hmm = work / "model", work / "other", work / "hmm"
        rows = [
            ("malformed CoNLL-U (predict, evaluate --gold --pred)", malformed_conllu(work, hmm, args.cases, rng)),
            ("damaged model directories (predict)", damaged_models(work, model, other, args.cases, rng)),
            ("operating-system errors", os_errors(work, model)),
            ("options and configs", options_and_configs(work, model, hmm)),
        ]
        equal = resume_equality(work)
    print("| category | cases | done | clear error | traceback |")
    print("|---|---|---|---|---|")
    for name, counts in rows:
        print(f"| {name} | {sum(counts.values())} | {counts['done']} | {counts['clear error']} | {counts['traceback']} |")
    print(f"\nresume after SIGKILL mid-epoch: weights {'bit-identical' if equal else 'DIFFERENT'} to an uninterrupted run")
    return 0 if all(counts["traceback"] == 0 for _, counts in rows) and equal else 1


if __name__ == "__main__":
    sys.exit(run())
