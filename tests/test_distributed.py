"""Training with DistributedDataParallel under torchrun: each rank's share of the batches, and a 2-process gloo run
of the tiny config whose model loads and tags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bilstm_tagger import load_model, read_conllu
from bilstm_tagger.training.distributed import Distribution

from .conftest import CONFIGS, OVERFIT_OVERRIDES, ROOT, kill_mid_epoch, sample_train_args


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_shares_are_disjoint_equal_and_leave_out_less_than_one_batch_per_rank(world_size):
    batches = list(range(11))
    shares = [Distribution(rank=r, world_size=world_size).share(batches) for r in range(world_size)]
    assert len({len(share) for share in shares}) == 1  # every rank does as many all-reduces as the others
    taken = [b for share in shares for b in share]
    assert len(taken) == len(set(taken))
    assert len(batches) - len(taken) < world_size


def test_rank_0_takes_its_machines_waiting_ranks_threads_while_it_works_alone():
    """Rank 0 trains the lemmatizer and scores dev while the other ranks of its machine wait in a collective: it
    runs with their torch threads too (up to the cores it may use), and gives them back afterwards; another rank,
    or a single process, keeps its own."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        with Distribution(rank=0, world_size=2, local_world_size=2).leader_threads():
            assert torch.get_num_threads() == min(2, cores)
        assert torch.get_num_threads() == 1
        for others in (Distribution(rank=1, world_size=2, local_world_size=2), Distribution()):
            with others.leader_threads():
                assert torch.get_num_threads() == 1
        with Distribution(rank=0, world_size=2, local_world_size=1).leader_threads():  # its peer on another machine
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_two_gloo_processes_train_one_model_that_loads_and_tags(tiny_path: Path, tmp_path: Path):
    output = tmp_path / "model"
    overrides = {**OVERFIT_OVERRIDES, "training.batch_words": 8, "training.max_epochs": 40, "training.patience": 40}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "bilstm_tagger", "train", str(CONFIGS / "tiny.cfg"), "--train", str(tiny_path), "--dev", str(tiny_path),
        "--output", str(output), "--quiet",
        *[arg for key, value in overrides.items() for arg in (f"--{key}", str(value))],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("model written to") == 1  # rank 0 reports, rank 1 does not

    meta = json.loads((output / "meta.json").read_text())
    assert meta["world_size"] == 2
    # the two ranks together saw each epoch's words once (less at most one batch left out), not twice
    sentences = read_conllu(tiny_path)
    n_words = sum(len(s) for s in sentences)
    first = json.loads((output / "train_log.jsonl").read_text().splitlines()[0])
    assert n_words - 8 <= first["words"] <= n_words

    tagger = load_model(output)
    predicted = tagger.tag([s.forms for s in sentences])
    gold = [w.upos for s in sentences for w in s.words]
    got = [tag for tags in predicted for tag in tags["upos"]]
    assert sum(g == p for g, p in zip(gold, got)) / len(gold) > 0.9


def test_two_gloo_processes_killed_and_resumed_give_the_uninterrupted_weights(tmp_path: Path):
    """SIGKILL to torchrun and both ranks mid-epoch, then the same command again: it resumes, and the weights and
    the training log equal an uninterrupted run's (each rank's word dropout and dropout masks are drawn anew each
    epoch from what the checkpoint keeps)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def command(output: Path) -> list:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "bilstm_tagger", *sample_train_args(output)]

    subprocess.run(command(tmp_path / "a"), cwd=ROOT, env=env, check=True, timeout=300)
    kill_mid_epoch(command(tmp_path / "c"), tmp_path / "c", env)
    subprocess.run(command(tmp_path / "c"), cwd=ROOT, env=env, check=True, timeout=300)
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "c" / "model.safetensors").read_bytes()
    logs = [[json.loads(line) for line in (tmp_path / name / "train_log.jsonl").read_text().splitlines()]
            for name in "ac"]
    assert [(r["epoch"], r["dev"], r["loss"]) for r in logs[0]] == [(r["epoch"], r["dev"], r["loss"]) for r in logs[1]]
