"""Property-based tests (hypothesis): the reader never fails with anything but its own error and writes valid files
back byte for byte; the spaCy component tags any tokens, one tag per non-space token."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bilstm_tagger import CorpusError, iter_conllu, load_model, read_conllu, write_conllu
from bilstm_tagger.corpus import UPOS_TAGS

#: characters a CoNLL-U cell may hold: anything but the tab and the line ends the reader splits on (and surrogates)
cell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r"), min_size=1, max_size=8
)
feature_names = st.sampled_from(["Case", "Number", "Person", "Tense", "PronType", "Typo", "NumForm", "Number[psor]"])
feature_values = st.sampled_from(["Nom", "Sing", "Plur", "1", "Past", "Prs", "Yes", "Digit", "Int,Rel"])


@st.composite
def feats_column(draw) -> str:
    features = draw(st.dictionaries(feature_names, feature_values, max_size=4)) if draw(st.booleans()) else {}
    if not features:
        return "_"
    return "|".join(f"{name}={value}" for name, value in sorted(features.items(), key=lambda kv: kv[0].lower()))


@st.composite
def sentence_text(draw) -> str:
    n = draw(st.integers(1, 6))
    lines = []
    if draw(st.booleans()):
        lines.append(f"# sent_id = {draw(cell_text).replace('=', '')}\n")
    if draw(st.booleans()):
        lines.append(f"# text = {draw(cell_text)}\n")
    for i in range(1, n + 1):
        if i < n and draw(st.integers(0, 5)) == 0:
            lines.append(f"{i}-{i + 1}\t{draw(cell_text)}\t_\t_\t_\t_\t_\t_\t_\t_\n")
        upos = draw(st.sampled_from(sorted(UPOS_TAGS) + ["_"]))
        xpos = draw(st.one_of(st.just("_"), cell_text))
        cells = [str(i), draw(cell_text), draw(cell_text), upos, xpos, draw(feats_column()), "0", "dep", "_", "_"]
        lines.append("\t".join(cells) + draw(st.sampled_from(["\n", "\r\n"])))
    return "".join(lines) + "\n"


valid_file = st.lists(sentence_text(), min_size=1, max_size=4).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=valid_file, bom=st.booleans())
def test_property_valid_files_round_trip_byte_for_byte(tmp_path, text, bom):
    source, copy = tmp_path / "in.conllu", tmp_path / "out.conllu"
    source.write_bytes(("\ufeff" if bom else "").encode("utf-8") + text.encode("utf-8"))
    sentences = read_conllu(source)
    write_conllu(copy, sentences)
    assert copy.read_bytes() == source.read_bytes()
    assert sum(len(s) for s in sentences) == sum(
        1 for line in text.split("\n") if line and not line.startswith("#") and line.split("\t")[0].isdigit()
    )


@st.composite
def mutated_file(draw) -> bytes:
    data = bytearray(draw(valid_file).encode("utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        junk = draw(st.sampled_from([b"\t", b"\n", b"|", b"=", b"_", b"#", b"-", b".", b"0", b"\xff", b"\xc3", b" ", b""]))
        if action == "insert":
            data[where:where] = junk
        elif action == "delete":
            del data[where:where + draw(st.integers(1, 5))]
        else:
            data[where:where + 1] = junk
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated_file())
def test_property_damaged_files_raise_only_corpus_errors(tmp_path, data):
    path = tmp_path / "damaged.conllu"
    path.write_bytes(data)
    try:
        for sentence in iter_conllu(path):
            assert len(sentence) > 0 and all(w.form for w in sentence.words)
    except CorpusError as exc:
        assert str(exc).startswith(str(path))


# -- the spaCy component ---------------------------------------------------------------------------------------------

token = st.one_of(
    st.text(min_size=1, max_size=12),  # any Unicode
    st.sampled_from([" ", "  ", "\n", "\t", "\u00a0", "\u200b", "\u3000"]),  # whitespace of many kinds
    st.text(alphabet="abcdefghij", min_size=200, max_size=400),  # long words
)


@pytest.fixture(scope="module")
def nlp(tiny_model):
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(tiny_model)})
    return nlp


def _check_tags(nlp, doc, upos_labels):
    for t in doc:
        if t.is_space:
            assert t.pos_ == "SPACE"
        else:
            assert t.pos_ in upos_labels, (t.text, t.pos_)


@settings(max_examples=120, deadline=None)
@given(words=st.lists(token, max_size=30))
def test_property_component_tags_any_tokens(nlp, tiny_model, words):
    from spacy.tokens import Doc

    upos_labels = set(load_model(tiny_model).vocabs.labels["upos"])
    doc = nlp(Doc(nlp.vocab, words=words))
    _check_tags(nlp, doc, upos_labels)
    batch = list(nlp.pipe([Doc(nlp.vocab, words=words), Doc(nlp.vocab, words=words[::-1])]))
    assert [t.pos_ for t in batch[0]] == [t.pos_ for t in doc]


def test_property_component_tags_a_10000_token_doc(nlp, tiny_model):
    from spacy.tokens import Doc

    rng = random.Random(0)
    words = ["".join(rng.choice("abcdeéßж的 .") for _ in range(rng.randint(1, 9))).strip() or "x" for _ in range(10_000)]
    doc = nlp(Doc(nlp.vocab, words=words))
    assert len(doc) == 10_000
    _check_tags(nlp, doc, set(load_model(tiny_model).vocabs.labels["upos"]))


def test_property_library_tags_an_empty_form(tiny_model):
    """spaCy refuses empty tokens, the library does not: an empty form is read as one unknown character."""
    tags = load_model(tiny_model).tag([["", "cats", ""]])[0]
    assert len(tags["upos"]) == 3 and all(tags["upos"])
