"""Shared fixtures: tiny CoNLL-U strings, a tiny trained model (CPU, seconds), and a training run to kill mid-epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from bilstm_tagger import load_config, train

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
SHARED_UD = ROOT.parent / "shared" / "ud"

# Comments, a multiword range (2-3), an empty node (4.1), SpaceAfter=No, an unannotated XPOS, FEATS "_".
TINY_CONLLU = textwrap.dedent(
    """\
    # newdoc id = reviews-1
    # sent_id = reviews-1-0001
    # text = I don't like cats.
    1	I	I	PRON	PRP	Case=Nom|Number=Sing|Person=1|PronType=Prs	4	nsubj	4:nsubj	_
    2-3	don't	_	_	_	_	_	_	_	_
    2	do	do	AUX	VBP	Mood=Ind|Number=Sing|Person=1|Tense=Pres|VerbForm=Fin	4	aux	4:aux	_
    3	n't	not	PART	RB	_	4	advmod	4:advmod	_
    4	like	like	VERB	VB	VerbForm=Inf	0	root	0:root	_
    4.1	like	like	VERB	VB	_	_	_	4:conj	CopyOf=4
    5	cats	cat	NOUN	NNS	Number=Plur	4	obj	4:obj	SpaceAfter=No
    6	.	.	PUNCT	.	_	4	punct	4:punct	_

    # sent_id = reviews-1-0002
    # text = Dogs bark loudly
    1	Dogs	dog	NOUN	_	Number=Plur	2	nsubj	2:nsubj	_
    2	bark	bark	VERB	VBP	Mood=Ind|Number=Plur|Person=3|Tense=Pres|VerbForm=Fin	0	root	0:root	_
    3	loudly	loudly	ADV	RB	Degree=Pos	2	advmod	2:advmod	_

    # sent_id = email-2-0001
    # text = The cat sleeps.
    1	The	the	DET	DT	Definite=Def|PronType=Art	2	det	2:det	_
    2	cat	cat	NOUN	NN	Number=Sing	3	nsubj	3:nsubj	_
    3	sleeps	sleep	VERB	VBZ	Mood=Ind|Number=Sing|Person=3|Tense=Pres|VerbForm=Fin	0	root	0:root	SpaceAfter=No
    4	.	.	PUNCT	.	_	3	punct	3:punct	_

    # sent_id = email-2-0002
    # text = I like the dogs .
    1	I	I	PRON	PRP	Case=Nom|Number=Sing|Person=1|PronType=Prs	2	nsubj	2:nsubj	_
    2	like	like	VERB	VBP	Mood=Ind|Number=Sing|Person=1|Tense=Pres|VerbForm=Fin	0	root	0:root	_
    3	the	the	DET	DT	Definite=Def|PronType=Art	4	det	4:det	_
    4	dogs	dog	NOUN	NNS	Number=Plur	2	obj	2:obj	_
    5	.	.	PUNCT	.	_	2	punct	2:punct	_

    """
)

#: Settings that make the tiny model memorise TINY_CONLLU in a few seconds.
OVERFIT_OVERRIDES = {
    "training.max_epochs": 60,
    "training.patience": 60,
    "training.learning_rate": 0.02,
    "training.word_dropout": 0.0,
    "training.lr_decay": 1.0,
    "training.max_minutes": 0,
    "model.dropout": 0.0,
}


@pytest.fixture
def tiny_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.conllu"
    path.write_text(TINY_CONLLU, encoding="utf-8")
    return path


def data_overrides(data: Path) -> dict:
    """Config overrides that train on ``data`` and use it as dev too."""
    return {"paths.train": str(data), "paths.dev": str(data)}


def train_tiny(output_dir: Path, data: Path, **overrides) -> Path:
    """Train configs/tiny.cfg on ``data`` (also used as dev) until it memorises it."""
    config = load_config(CONFIGS / "tiny.cfg", overrides={**OVERFIT_OVERRIDES, **data_overrides(data), **overrides})
    train(config, output_dir=output_dir, progress=False)
    return output_dir


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A model directory trained on TINY_CONLLU (shared by the tests that only read it)."""
    root = tmp_path_factory.mktemp("tiny_model")
    data = root / "tiny.conllu"
    data.write_text(TINY_CONLLU, encoding="utf-8")
    return train_tiny(root / "model", data)


@pytest.fixture(scope="session")
def tiny_data(tiny_model: Path) -> Path:
    """The file the session's tiny model was trained on."""
    return tiny_model.parent / "tiny.conllu"


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="run tests that read the real UD treebanks")


def pytest_collection_modifyitems(config, items):
    import torch

    for item in items:
        if "slow" in item.keywords and not config.getoption("--slow"):
            item.add_marker(pytest.mark.skip(reason="needs --slow"))
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


def sample_train_args(output: Path, *extra: str) -> list:
    """``train`` on the shipped sample with the tiny config, four epochs whatever the time: a run to interrupt."""
    sample = ROOT / "data"
    return ["train", str(CONFIGS / "tiny.cfg"), "--train", str(sample / "en_ewt-sample-train.conllu"),
            "--dev", str(sample / "en_ewt-sample-dev.conllu"), "--output", str(output), "--quiet",
            "--training.max_minutes", "0", "--training.max_epochs", "4", "--training.patience", "10", *extra]


def _descendants(pid: int) -> list:
    """The processes started by ``pid``, and by those, ... (Linux: from /proc; torchrun's ranks leave its process
    group)."""
    children: dict = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def kill_mid_epoch(command: list, output: Path, env: dict) -> None:
    """Start a training command, wait until epoch 2's checkpoint is on disk, let the next epoch begin, then SIGKILL
    it and every process it started (torchrun's ranks too)."""
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        state = output / "checkpoint.json"
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 2:
            break
        time.sleep(0.02)
    time.sleep(0.15)
    for pid in [process.pid, *_descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    assert json.loads((output / "checkpoint.json").read_text())["epoch"] in (2, 3)  # unfinished, resumable
