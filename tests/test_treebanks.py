"""The reader on the real UD treebanks beside the checkout (opt-in: pytest --slow; skipped when missing)."""

from __future__ import annotations

import pytest

from bilstm_tagger import iter_conllu, read_conllu, write_conllu

from .conftest import SHARED_UD

# sentences and words per file, as ../shared/ud/README.md lists them
EXPECTED = {
    "en_ewt/en_ewt-ud-train.conllu": (12544, 204577),
    "en_ewt/en_ewt-ud-dev.conllu": (2001, 25147),
    "en_ewt/en_ewt-ud-test.conllu": (2077, 25094),
    "de_gsd/de_gsd-ud-dev.conllu": (799, 12480),
    "fr_gsd/fr_gsd-ud-dev.conllu": (1476, 35721),
    "ru_gsd/ru_gsd-ud-dev.conllu": (579, 11709),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_treebanks_read_with_expected_counts_and_write_back_unchanged(name, tmp_path):
    path = SHARED_UD / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    sentences = read_conllu(path)
    assert (len(sentences), sum(len(s) for s in sentences)) == EXPECTED[name]
    out = tmp_path / "copy.conllu"
    write_conllu(out, iter_conllu(path))
    assert out.read_bytes() == path.read_bytes()
