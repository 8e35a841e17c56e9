"""Nothing lost, nothing hung, no traceback: atomic model directories, refusing to clobber, resuming a killed run
bit for bit, one-line OS errors, forking after tagging, and damaged model directories."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bilstm_tagger import ModelDirError, load_config, load_model, read_conllu, train
from bilstm_tagger.cli import main
from bilstm_tagger.inference.options import OptionError
from bilstm_tagger.serialization import read_model, save_model

from .conftest import CONFIGS, OVERFIT_OVERRIDES, ROOT, data_overrides, kill_mid_epoch, sample_train_args

SAMPLE = ROOT / "data"


# -- atomic model directories ---------------------------------------------------------------------------------------

SAVE_STEPS = ["wrote config.cfg", "wrote vocab.json", "wrote labels.json", "wrote model.safetensors",
              "wrote meta.json", "exchanged", None]


@pytest.mark.parametrize("stop_after", SAVE_STEPS)
def test_save_killed_at_any_step_leaves_the_old_or_the_new_model(tiny_model, tmp_path, stop_after):
    """A process killed (os._exit) after each step of a save: the directory always loads, old or new, whole."""
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    script = textwrap.dedent(
        f"""
        import os
        from bilstm_tagger import files
        from bilstm_tagger.serialization import read_model, save_model
        trained = read_model({str(model)!r})
        files._after_step = lambda label: os._exit(17) if label == {stop_after!r} else None
        save_model({str(model)!r}, config=trained.config, vocabs=trained.vocabs, model=trained.model,
                   meta={{**trained.meta, "marker": "new"}})
        """
    )
    code = subprocess.run([sys.executable, "-c", script], cwd=ROOT).returncode
    assert code == (0 if stop_after is None else 17)
    loaded = read_model(model)  # whole, whichever version
    new = stop_after in ("exchanged", None)
    assert loaded.meta.get("marker") == ("new" if new else None)
    # a killed save may leave its hidden temporary directory beside, never a half model; the next save removes it
    save_model(model, config=loaded.config, vocabs=loaded.vocabs, model=loaded.model, meta=loaded.meta)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_save_into_a_new_directory_is_all_or_nothing(tiny_model, tmp_path):
    script = textwrap.dedent(
        f"""
        import os
        from bilstm_tagger import files
        from bilstm_tagger.serialization import read_model, save_model
        trained = read_model({str(tiny_model)!r})
        files._after_step = lambda label: os._exit(17) if label == "wrote model.safetensors" else None
        save_model({str(tmp_path / "new")!r}, config=trained.config, vocabs=trained.vocabs, model=trained.model)
        """
    )
    assert subprocess.run([sys.executable, "-c", script], cwd=ROOT).returncode == 17
    assert not (tmp_path / "new").exists()


# -- refusing to clobber, resuming -----------------------------------------------------------------------------------


def test_train_refuses_to_clobber_a_finished_model(tiny_model, tiny_data, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    args = ["train", str(CONFIGS / "tiny.cfg"), "--train", str(tiny_data), "--dev", str(tiny_data), "--output",
            str(model), "--quiet", "--training.max_epochs", "1"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "holds a finished model; pass --overwrite to replace it" in err and len(err.splitlines()) == 1
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before
    assert main([*args, "--overwrite"]) == 0
    assert json.loads((model / "meta.json").read_text())["best_epoch"] == 1


def test_train_refuses_other_files_and_a_file_as_output(tiny_data, tmp_path, capsys):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    args = ["train", str(CONFIGS / "tiny.cfg"), "--train", str(tiny_data), "--dev", str(tiny_data), "--quiet",
            "--training.max_epochs", "1", "--output"]
    assert main([*args, str(other)]) == 1
    assert "holds files that are not a model" in capsys.readouterr().err
    assert (other / "todo.txt").read_text() == "mine"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main([*args, str(a_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"bilstm-tagger: error: {a_file}: cannot write a model directory at it: Not a directory")


def test_train_killed_and_resumed_gives_the_uninterrupted_weights(tmp_path):
    """SIGKILL mid-epoch, then the same command again: it resumes, and the weights equal an uninterrupted run's,
    which also equal a second uninterrupted run's in another process (determinism across processes)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def command(output: Path) -> list:
        return [sys.executable, "-m", "bilstm_tagger", *sample_train_args(output)]

    def run(output: Path) -> None:
        subprocess.run(command(output), cwd=ROOT, env=env, check=True)

    run(tmp_path / "a")
    run(tmp_path / "b")
    kill_mid_epoch(command(tmp_path / "c"), tmp_path / "c", env)
    run(tmp_path / "c")
    weights = {name: (tmp_path / name / "model.safetensors").read_bytes() for name in "abc"}
    assert weights["a"] == weights["b"] == weights["c"]
    logs = {name: [json.loads(l) for l in (tmp_path / name / "train_log.jsonl").read_text().splitlines()] for name in "ac"}
    assert [(r["epoch"], r["dev"], r["loss"]) for r in logs["a"]] == [(r["epoch"], r["dev"], r["loss"]) for r in logs["c"]]
    assert not (tmp_path / "c" / "checkpoint.json").exists()  # finished: no checkpoint left


def test_train_resumed_run_counts_earlier_time_against_max_minutes(tmp_path):
    from bilstm_tagger import files

    overrides = {**OVERFIT_OVERRIDES, **data_overrides(SAMPLE / "en_ewt-sample-dev.conllu"),
                 "training.max_epochs": 6, "training.max_minutes": 1}
    config = load_config(CONFIGS / "tiny.cfg", overrides=overrides)
    writes = []

    def stop_after_epoch_2(label):
        if label in ("renamed", "exchanged"):  # a directory written: one per epoch
            writes.append(label)
            if len(writes) == 2:
                raise KeyboardInterrupt

    files._after_step = stop_after_epoch_2
    try:
        with pytest.raises(KeyboardInterrupt):
            train(config, output_dir=tmp_path / "m", progress=False)
    finally:
        files._after_step = None
    state_path = tmp_path / "m" / "checkpoint.json"
    state = json.loads(state_path.read_text())
    assert state["epoch"] == 2
    state["elapsed"] = 61.0  # as if the first two epochs had taken the whole minute
    state_path.write_text(json.dumps(state))
    result = train(config, output_dir=tmp_path / "m", progress=False)
    assert result.epochs == 2 and result.seconds >= 61.0  # no epoch after the resume: the cap was spent
    assert not state_path.exists() and read_model(tmp_path / "m").meta["best_epoch"] in (1, 2)
    assert read_model(tmp_path / "m").meta["stopped"] == "max_minutes"
    assert result.warnings and "[training] max_minutes = 1 stopped the run before max_epochs = 6" in result.warnings[0]


def test_train_resume_refuses_a_different_config(tmp_path, capsys):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "bilstm_tagger", *sample_train_args(tmp_path / "m")]
    kill_mid_epoch(command, tmp_path / "m", env)
    assert main(sample_train_args(tmp_path / "m", "--training.learning_rate", "0.001")) == 1
    assert "holds an unfinished run of another config or data" in capsys.readouterr().err


# -- OS errors: one line, exit 1 -------------------------------------------------------------------------------------


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("bilstm-tagger: error: ") and "Traceback" not in err
    return err


def test_os_error_output_in_a_missing_directory(tiny_model, tiny_data, tmp_path, capsys):
    target = tmp_path / "missing" / "x.conllu"
    assert main(["predict", str(tiny_model), str(tiny_data), "-o", str(target)]) == 1
    err = _one_line_error(capsys)
    assert str(target) in err and "an output's directory must already exist" in err


def test_os_error_output_under_a_file(tiny_model, tiny_data, tmp_path, capsys):
    assert main(["evaluate", str(tiny_model), str(tiny_data), "-o", str(tiny_data / "report.json")]) == 1
    assert "a part of the path is a file, not a directory" in _one_line_error(capsys)


def test_os_error_unwritable_output_directory(tiny_model, tiny_data, tmp_path, capsys, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):  # as root, chmod cannot make a directory unwritable: say no as the kernel would
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert main(["predict", str(tiny_model), str(tiny_data), "-o", str(tmp_path / "x.conllu")]) == 1
    err = _one_line_error(capsys)
    assert str(tmp_path / "x.conllu") in err and "Permission denied (check its permissions" in err


def test_os_error_full_disk(tiny_model, tiny_data, tmp_path, capsys, monkeypatch):
    from bilstm_tagger import files

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    output = tmp_path / "x.conllu"
    assert main(["predict", str(tiny_model), str(tiny_data), "-o", str(output)]) == 1
    assert "the disk is full" in _one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []  # no partial output, no temporary file
    assert main(["train", str(CONFIGS / "tiny.cfg"), "--train", str(tiny_data), "--dev", str(tiny_data), "--quiet",
                 "--output", str(tmp_path / "m"), "--training.max_epochs", "1"]) == 1
    assert "the disk is full" in _one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_os_error_permission_denied_on_input(tiny_model, tiny_data, capsys, monkeypatch):
    import builtins

    from bilstm_tagger import corpus

    def refuse(path, *args, **kwargs):
        if Path(path) == tiny_data:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(corpus, "open", refuse, raising=False)
    assert main(["predict", str(tiny_model), str(tiny_data)]) == 1
    assert f"{tiny_data}: permission denied" in _one_line_error(capsys)


def test_os_error_broken_pipe(tiny_model):
    """`predict MODEL FILE | head -c 100`: one line on stderr, exit 1, no traceback."""
    big = SAMPLE / "en_ewt-sample-test.conllu"  # larger than a pipe's buffer
    command = f"{sys.executable} -m bilstm_tagger predict {tiny_model} {big} | head -c 100 > /dev/null"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["bilstm-tagger: error: the output was closed before it was complete (broken pipe)"]


# -- damaged model directories ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "meta, message",
    [
        ([1, 2], "not a JSON object"),
        ({"format_version": 1}, "'parts' must give the sha256 of each of"),
        ({"format_version": 4, "parts": {}}, "written in model format 4 by a newer bilstm-tagger"),
        ({"format_version": 1, "parts": {"config.cfg": "0" * 64}}, "'parts' must give the sha256"),
    ],
)
def test_damaged_meta_is_a_clear_error(tiny_model, tmp_path, capsys, meta, message):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (model / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelDirError, match=message):
        read_model(model)
    assert main(["predict", str(model), str(model / "config.cfg")]) == 1
    assert message.split("'")[0] in _one_line_error(capsys)


# -- forking after tagging -------------------------------------------------------------------------------------------


def test_spacy_pipe_n_process_after_tagging_in_the_parent_does_not_hang(tiny_model):
    """The issue's sequence: tag in the parent (with torch's thread pool running), then nlp.pipe(n_process=2).
    Without single-threaded children this hangs forever; here it must finish, with the single-process tags."""
    pytest.importorskip("spacy")
    script = textwrap.dedent(
        f"""
        import spacy, torch
        from spacy.tokens import Doc
        from bilstm_tagger import read_conllu
        torch.set_num_threads(2)
        torch.ones(2000, 2000) @ torch.ones(2000, 2000)  # start the thread pool, as a big model's batch does
        sentences = read_conllu({str(SAMPLE / "en_ewt-sample-dev.conllu")!r})[:200]
        nlp = spacy.blank("en")
        nlp.add_pipe("bilstm_tagger", config={{"model": {str(tiny_model)!r}}})
        docs = lambda: [Doc(nlp.vocab, words=s.forms) for s in sentences]
        alone = [[t.pos_ for t in d] for d in nlp.pipe(docs())]
        forked = [[t.pos_ for t in d] for d in nlp.pipe(docs(), n_process=2, batch_size=50)]
        assert forked == alone, "different tags"
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_spacy_workers_forked_before_the_model_is_loaded_use_one_torch_thread(tiny_model):
    """nlp.pipe(n_process=N) usually forks before the component has loaded its model (it loads on first use): the
    workers must still tag with one torch thread each, not torch's default of one per core."""
    script = textwrap.dedent(
        f"""
        import multiprocessing, spacy, torch
        torch.set_num_threads(2)
        nlp = spacy.blank("en")
        nlp.add_pipe("bilstm_tagger", config={{"model": {str(tiny_model)!r}}})
        with multiprocessing.get_context("fork").Pool(1) as pool:
            print(torch.get_num_threads(), pool.apply(torch.get_num_threads))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2", "1"]


def test_train_creates_missing_parent_directories(tiny_data, tmp_path):
    output = tmp_path / "models" / "ewt"
    assert main(["train", str(CONFIGS / "tiny.cfg"), "--train", str(tiny_data), "--dev", str(tiny_data), "--quiet",
                 "--output", str(output), "--training.max_epochs", "1"]) == 0
    assert read_model(output).meta["best_epoch"] == 1


def test_train_deterministic_setting_holds_only_during_training(tiny_data, tmp_path):
    """[system] deterministic = true switches torch's deterministic algorithms on while the run trains (so several
    threads repeat bit for bit) and restores the process's setting afterwards."""
    import torch

    from bilstm_tagger import files

    seen = []
    files._after_step = lambda label: seen.append(torch.are_deterministic_algorithms_enabled())
    try:
        for flag in (True, False):
            config = load_config(CONFIGS / "tiny.cfg", overrides={**data_overrides(tiny_data), "system.deterministic": flag,
                                                                  "training.max_epochs": 2})
            train(config, output_dir=tmp_path / str(flag), progress=False)
            assert not torch.are_deterministic_algorithms_enabled()
            # epoch 1's directory (model with lemmatizer and splitter, log, checkpoint: 12 steps) is written while
            # training; the finished one (model with lemmatizer and splitter, and log: 10 steps) after the setting is
            # restored
            assert len(seen) == 12 + 10
            assert all(state == flag for state in seen[:12]) and not any(seen[12:])
            seen.clear()
    finally:
        files._after_step = None


# -- threads on a busy machine -----------------------------------------------------------------------------------


def test_thread_governor_takes_one_thread_when_starved_and_tries_again_less_often():
    from bilstm_tagger.threads import ThreadGovernor

    governor = ThreadGovernor(None, None, first_wait=2, longest_wait=4)
    governor.record(1.97, 2)  # both threads got their cores
    assert not governor.one_thread
    governor.record(1.1, 2)  # two threads got 1.1 cores: another process has one
    assert governor.one_thread
    governor.record(1.0, 1)
    governor.record(1.0, 1)
    assert not governor.one_thread  # after 2 batches, a try
    governor.record(1.2, 2)  # still busy: back to one thread, the next try after 4 batches
    assert (governor.one_thread, governor.wait) == (True, 4)
    for _ in range(3):
        governor.record(1.0, 1)
        assert governor.one_thread
    governor.record(1.0, 1)
    assert not governor.one_thread
    governor.record(1.2, 2)
    assert governor.wait == 4  # never longer than longest_wait
    for _ in range(4):
        governor.record(1.0, 1)
    governor.record(1.95, 2)  # the other process is gone: two threads, and short waits again
    assert (governor.one_thread, governor.wait) == (False, 2)


def test_thread_governor_never_raises_the_thread_count():
    from bilstm_tagger.threads import ThreadGovernor

    calls = []
    governor = ThreadGovernor(calls.append, lambda: 1)  # a forked worker's one thread
    with governor.running():
        pass
    assert calls == []  # raising it there would enter the parent's broken thread pool


def test_adapting_threads_changes_no_tag_and_leaves_torch_threads_as_they_were(tiny_model, tiny_data):
    import torch

    from bilstm_tagger import InferenceOptions

    sentences = [s.forms for s in read_conllu(tiny_data)] * 20
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        adapting = load_model(tiny_model, InferenceOptions(adapt_threads=True))
        assert adapting.threads is not None
        tags = adapting.tag(sentences, batch_words=8)  # many batches, each a choice
        assert torch.get_num_threads() == 2
        assert tags == load_model(tiny_model, InferenceOptions(adapt_threads=False)).tag(sentences, batch_words=8)
        assert load_model(tiny_model, InferenceOptions(adapt_threads=False)).threads is None
    finally:
        torch.set_num_threads(before)
    with pytest.raises(OptionError, match="adapt_threads must be true or false"):
        InferenceOptions(adapt_threads="yes")
