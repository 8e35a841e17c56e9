"""The command line, called in-process through ``cli.main``: commands, outputs and error messages."""

from __future__ import annotations

import json
import subprocess
import sys

from bilstm_tagger.cli import main

from .conftest import CONFIGS, OVERFIT_OVERRIDES


def _overrides(extra=None):
    args = []
    for key, value in {**OVERFIT_OVERRIDES, "training.max_epochs": 3, **(extra or {})}.items():
        args += [f"--{key}", json.dumps(value)]
    return args


def test_cli_train_writes_model_dir_and_log(tiny_path, tmp_path, capsys):
    out = tmp_path / "model"
    code = main(["train", str(CONFIGS / "tiny.cfg"), "--train", str(tiny_path), "--dev", str(tiny_path),
                 "--output", str(out), "--quiet", "--cpu", *_overrides({"training.max_epochs": 2})])
    assert code == 0
    assert {"config.cfg", "vocab.json", "labels.json", "model.safetensors", "meta.json", "train_log.jsonl"} <= {
        p.name for p in out.iterdir()
    }
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    assert {"loss", "dev", "train_words_per_second"} <= set(log[0])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["train_files"][0]["name"] == "tiny.conllu" and len(meta["train_files"][0]["sha256"]) == 64
    assert meta["versions"]["torch"] and meta["architecture"] == "bilstm_tagger.BiLSTM.v1"
    config_text = (out / "config.cfg").read_text()
    assert "max_epochs = 2" in config_text  # the override is what was saved
    assert "best dev" in capsys.readouterr().out


def test_cli_evaluate_prints_and_writes_report(tiny_model, tiny_data, tmp_path, capsys):
    report_path = tmp_path / "report.json"
    assert main(["evaluate", str(tiny_model), str(tiny_data), "--output", str(report_path)]) == 0
    printed = capsys.readouterr().out
    assert "UPOS" in printed and "AllTags" in printed
    report = json.loads(report_path.read_text())
    assert report["metrics"]["upos"]["accuracy"] == 100.0
    assert report["test_file"]["name"] == "tiny.conllu" and report["tokenization"] == "gold"


def test_cli_predict_changes_only_tag_columns(tiny_model, tiny_data, tmp_path):
    out = tmp_path / "pred.conllu"
    source = tiny_data.read_text(encoding="utf-8")
    blanked = tmp_path / "blank.conllu"
    # strip the tags from the input: predict must put them back (the model memorised them)
    lines = []
    for line in source.splitlines(keepends=True):
        cells = line.split("\t")
        if len(cells) == 10 and cells[0].isdigit():
            cells[3] = cells[4] = cells[5] = "_"
        lines.append("\t".join(cells))
    blanked.write_text("".join(lines), encoding="utf-8")
    assert main(["predict", str(tiny_model), str(blanked), "-o", str(out)]) == 0
    predicted = out.read_text(encoding="utf-8").splitlines(keepends=True)
    original = source.splitlines(keepends=True)
    assert len(predicted) == len(original)
    for old, new in zip(original, predicted):
        cells_old, cells_new = old.split("\t"), new.split("\t")
        if len(cells_old) == 10 and cells_old[0].isdigit():
            assert cells_new[:3] == cells_old[:3] and cells_new[6:] == cells_old[6:]
            assert cells_new[3] == cells_old[3] and cells_new[5] == cells_old[5]
        else:
            assert new == old  # comments, the range line, the empty node and blank lines: byte-identical


def test_cli_predict_to_stdout_equals_file_output(tiny_model, tiny_data, tmp_path, capsys):
    assert main(["predict", str(tiny_model), str(tiny_data), "-o", str(tmp_path / "out.conllu")]) == 0
    capsys.readouterr()
    assert main(["predict", str(tiny_model), str(tiny_data)]) == 0
    assert capsys.readouterr().out == (tmp_path / "out.conllu").read_text(encoding="utf-8")


def test_cli_predict_precisions_give_the_fp32_tags(tiny_model, tiny_data, tmp_path, capsys):
    """--precision bf16 (autocast) and int8 (quantized) keep the memorised tiny set's tags; an unknown one is
    refused."""
    assert main(["predict", str(tiny_model), str(tiny_data), "-o", str(tmp_path / "fp32.conllu")]) == 0
    for precision in ("bf16", "int8"):
        out = tmp_path / f"{precision}.conllu"
        assert main(["predict", str(tiny_model), str(tiny_data), "--precision", precision, "-o", str(out)]) == 0
        assert out.read_text() == (tmp_path / "fp32.conllu").read_text()
    assert main(["predict", str(tiny_model), str(tiny_data), "--precision", "int4"]) == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err


def test_cli_bad_conllu_gives_file_and_line(tiny_model, tmp_path, capsys):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tHello\t_\tINTJ\t_\t_\t0\troot\t_\t_\n2\tthere\t_\tADVERB\t_\t_\t1\tdep\t_\t_\n\n")
    assert main(["evaluate", str(tiny_model), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"bilstm-tagger: error: {bad}:2: UPOS 'ADVERB' is not one of the 17 UD tags")
    assert "Traceback" not in err


def test_cli_missing_model_dir(tmp_path, tiny_path, capsys):
    assert main(["predict", str(tmp_path / "nothing"), str(tiny_path)]) == 1
    assert "no such model directory" in capsys.readouterr().err


def test_cli_train_needs_data(tmp_path, capsys):
    assert main(["train", str(CONFIGS / "tiny.cfg"), "--output", str(tmp_path / "m")]) == 1
    assert "needs a train and a dev file" in capsys.readouterr().err


def test_cli_unknown_training_setting(tiny_path, tmp_path, capsys):
    code = main(["train", str(CONFIGS / "tiny.cfg"), "--train", str(tiny_path), "--dev", str(tiny_path),
                 "--output", str(tmp_path / "m"), "--training.max_epoch", "3"])
    assert code == 1
    assert "[training] has unknown setting(s) max_epoch" in capsys.readouterr().err


def test_cli_missing_config(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none.cfg"), "--output", str(tmp_path / "m")]) == 1
    assert "none.cfg: no such config file" in capsys.readouterr().err


def test_cli_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["evaluate", "only-one-arg"]) == 2
    assert main(["predict", "a", "b", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_cli_python_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "bilstm_tagger", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("bilstm-tagger ")


def test_cli_command_status_and_output_survive_the_fast_exit(tiny_model, tiny_data, tmp_path):
    """``python -m bilstm_tagger`` (``cli.run``: main, then gc.freeze before Python's shutdown) writes the same
    output as ``main`` and exits with its status."""
    command = [sys.executable, "-m", "bilstm_tagger", "predict", str(tiny_model)]
    ran = subprocess.run([*command, str(tiny_data), "-o", str(tmp_path / "run.conllu")], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert main(["predict", str(tiny_model), str(tiny_data), "-o", str(tmp_path / "main.conllu")]) == 0
    assert (tmp_path / "run.conllu").read_bytes() == (tmp_path / "main.conllu").read_bytes()
    failed = subprocess.run([*command, str(tmp_path / "missing.conllu")], capture_output=True, text=True)
    assert failed.returncode == 1 and "missing.conllu" in failed.stderr and "Traceback" not in failed.stderr


def test_cli_beam_size_only_for_seq2seq(tiny_model, tiny_data, capsys):
    assert main(["evaluate", str(tiny_model), str(tiny_data), "--beam-size", "3"]) == 1
    assert "beam_size is a decoding setting of seq2seq models; this model is BiLSTM" in capsys.readouterr().err
