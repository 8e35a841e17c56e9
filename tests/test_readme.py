"""The README's Python example runs as written (with a tiny model in place of the quick-start one)."""

from __future__ import annotations

import os
import re

from .conftest import ROOT


def test_readme_python_example_runs(tiny_model, tmp_path, capsys, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no Python example"
    code = blocks[0].replace('"runs/quickstart"', repr(str(tiny_model)))
    monkeypatch.chdir(tmp_path)  # "my_pipeline" is written here
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:2] == ["I", "PRON"]  # the model memorised "I" as PRON
    assert [len(doc) for doc in namespace["docs"]] == [5, 5]
    assert os.path.isdir(tmp_path / "my_pipeline" / "bilstm_tagger")
