"""Sentences for the tagger: the punctuation rule, the learnt splitter, spaCy's boundaries, and the component tagging
each sentence of a Doc as the library tags that sentence alone."""

from __future__ import annotations

import io
import json
import os
import sys

import pytest

from bilstm_tagger import load_model, read_conllu
from bilstm_tagger.segmentation import SentenceSplitter, sentence_spans, spans_from_starts


def test_sentence_spans_split_after_final_punctuation_and_its_closing_quotes():
    words = ["Hi", ".", "How", "are", "you", "?!", '"', "Fine", "..."]
    assert sentence_spans(words) == [(0, 2), (2, 7), (7, 9)]


def test_sentence_spans_keep_a_sentence_that_goes_on_in_lower_case():
    assert sentence_spans(["It", "costs", "5", ".", "or", "so", "."]) == [(0, 7)]
    assert sentence_spans(["U.S.", "troops", "left"]) == [(0, 3)]
    assert sentence_spans([]) == []


def test_spans_from_sentence_start_flags():
    assert spans_from_starts([True, None, False, True, None]) == [(0, 3), (3, 5)]
    assert spans_from_starts([None, None]) == [(0, 2)]


def test_spacy_component_tags_each_sentence_of_a_doc_on_its_own(tiny_model):
    spacy = pytest.importorskip("spacy")
    from spacy.tokens import Doc

    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(tiny_model)})
    first, second = ["I", "like", "cats", "."], ["Dogs", "bark", "loudly"]
    alone = load_model(tiny_model).tag([first, second])
    expected = {key: alone[0][key] + alone[1][key] for key in ("upos", "xpos", "lemma")}
    by_rule = nlp(Doc(nlp.vocab, words=first + second))
    marked = nlp(Doc(nlp.vocab, words=first + second, sent_starts=[True, False, False, False, True, False, False]))
    for doc in (by_rule, marked):
        assert [t.pos_ for t in doc] == expected["upos"] and [t.tag_ for t in doc] == expected["xpos"]
        assert [t.lemma_ for t in doc] == expected["lemma"]
    # what reaches the tagger: boundaries that something upstream set win over the rule
    tagger = nlp.get_pipe("bilstm_tagger").tagger
    seen = []
    tag_ids = tagger.tag_ids
    tagger.tag_ids = lambda sentences, **kwargs: seen.append(sentences) or tag_ids(sentences, **kwargs)
    nlp(Doc(nlp.vocab, words=first + second))
    nlp(Doc(nlp.vocab, words=first + second, sent_starts=[True] + [False] * 6))
    nlp(Doc(nlp.vocab, words=["a", ".", "B", "\n\n", "c"], sent_starts=[True, False, False, False, True]))
    assert seen == [[first, second], [first + second], [["a", ".", "B"], ["c"]]]


def test_predict_reads_pre_tokenized_text_and_writes_conllu(tiny_model, tmp_path, capsys):
    from bilstm_tagger import read_conllu
    from bilstm_tagger.cli import main

    text = tmp_path / "in.txt"
    text.write_text("\ufeffI like cats .\n\n  Dogs  bark loudly \n", encoding="utf-8")
    out = tmp_path / "out.conllu"
    assert main(["predict", str(tiny_model), str(text), "-o", str(out)]) == 0
    assert "tagging" not in capsys.readouterr().err  # no progress bar when stderr is not a terminal
    sentences = read_conllu(out)
    assert [s.forms for s in sentences] == [["I", "like", "cats", "."], ["Dogs", "bark", "loudly"]]
    assert [s.sent_id for s in sentences] == ["1", "3"]
    expected = load_model(tiny_model).tag([s.forms for s in sentences])
    assert [[w.upos for w in s.words] for s in sentences] == [t["upos"] for t in expected]
    assert [[w.lemma for w in s.words] for s in sentences] == [t["lemma"] for t in expected]


@pytest.mark.parametrize("processes", ["1", "2"])
def test_predict_reads_standard_input_for_a_dash(tiny_model, tiny_data, tmp_path, monkeypatch, capsys, processes):
    """``predict MODEL -`` tags what a pipe sends, as it tags the same bytes from a file; errors name the line."""
    from bilstm_tagger.cli import main

    def stdin(data: bytes) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))

    from_file, from_pipe = tmp_path / "file.conllu", tmp_path / "pipe.conllu"
    assert main(["predict", str(tiny_model), str(tiny_data), "-o", str(from_file)]) == 0
    stdin(tiny_data.read_bytes())
    assert main(["predict", str(tiny_model), "-", "-o", str(from_pipe), "--processes", processes]) == 0
    assert from_pipe.read_bytes() == from_file.read_bytes()
    stdin(b"good words\nbad \xff\n")
    assert main(["predict", str(tiny_model), "-", "--format", "text", "--processes", processes]) == 1
    assert "-:2: invalid UTF-8" in capsys.readouterr().err


def test_progress_shows_the_share_of_a_file_and_words_per_second(tmp_path):
    """On a terminal the bar counts a file's bytes against its size (so it has a percentage and a time left) with
    words and words/s beside them, and the words of standard input; off the terminal it writes nothing."""
    from pathlib import Path

    from bilstm_tagger.inference.prediction import _Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    path = tmp_path / "in.txt"
    path.write_bytes(b"x" * 1000)
    shown = Terminal()
    bar = _Progress(path, enabled=True, file=shown)
    bar.update(400, 100)
    bar.update(600, 150)
    bar.close()
    last = shown.getvalue().split("\r")[-1]
    assert "100%" in last and "1.00k/1.00k" in last and "250 words" in last and "words/s" in last
    piped = Terminal()
    bar = _Progress(Path("-"), enabled=True, file=piped)
    bar.update(400, 100)
    bar.close()
    assert "100w" in piped.getvalue().split("\r")[-1]
    silent = io.StringIO()  # not a terminal
    bar = _Progress(path, enabled=True, file=silent)
    bar.update(1000, 250)
    bar.close()
    assert silent.getvalue() == ""


@pytest.mark.parametrize("processes", ["1", "2"])
def test_predict_reads_gzip_files(tiny_model, tiny_data, tmp_path, capsys, processes):
    """A ``.gz`` file is read decompressed (``.txt.gz`` as text); a damaged one is named with what is wrong."""
    import gzip

    from bilstm_tagger.cli import main

    plain, packed = tmp_path / "plain.conllu", tmp_path / "packed.conllu"
    assert main(["predict", str(tiny_model), str(tiny_data), "-o", str(plain)]) == 0
    compressed = tmp_path / "in.conllu.gz"
    compressed.write_bytes(gzip.compress(tiny_data.read_bytes()))
    assert main(["predict", str(tiny_model), str(compressed), "-o", str(packed), "--processes", processes]) == 0
    assert packed.read_bytes() == plain.read_bytes()
    text = tmp_path / "in.txt.gz"
    text.write_bytes(gzip.compress("I like cats .\n".encode()))
    assert main(["predict", str(tiny_model), str(text), "-o", str(packed), "--processes", processes]) == 0
    assert [s.forms for s in read_conllu(packed)] == [["I", "like", "cats", "."]]
    capsys.readouterr()
    damaged = tmp_path / "damaged.conllu.gz"
    damaged.write_bytes(compressed.read_bytes()[:-20])
    assert main(["predict", str(tiny_model), str(damaged), "--processes", processes]) == 1
    assert f"{damaged}: cannot be decompressed" in capsys.readouterr().err


def test_predict_with_two_processes_writes_what_one_writes(tiny_model, tiny_data, tmp_path):
    from bilstm_tagger.cli import main

    big = tmp_path / "big.conllu"
    big.write_text(tiny_data.read_text(encoding="utf-8") * 700, encoding="utf-8")  # 2,800 sentences: two chunks
    outputs = []
    for processes in ("1", "2"):
        out = tmp_path / f"out{processes}.conllu"
        assert main(["predict", str(tiny_model), str(big), "-o", str(out), "--processes", processes]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n\n") == 2800


def test_several_processes_are_cpu_workers(tiny_model, tiny_data, tmp_path, capsys, monkeypatch):
    """--processes N forks CPU workers: asked for with a GPU device, the command says so (before loading anything)
    and the library refuses a tagger that is not on the CPU; --device auto means the CPU there, even where torch
    sees a GPU."""
    import torch

    from bilstm_tagger.cli import main
    from bilstm_tagger.inference import prediction

    out = tmp_path / "out.conllu"
    command = ["predict", str(tiny_model), str(tiny_data), "-o", str(out), "--processes", "2", "--device"]
    assert main([*command, "cuda"]) == 1
    assert "--processes 2 tags with CPU worker processes" in capsys.readouterr().err and not out.exists()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # "auto" would mean CUDA
    assert main([*command, "auto"]) == 0
    monkeypatch.undo()
    tagger = load_model(tiny_model)
    tagger.runtime.device = torch.device("cuda")  # as a tagger on a GPU reports it (nothing runs there)
    with pytest.raises(ValueError, match="CPU workers"):
        prediction.tag_conllu(tagger, tiny_data, io.StringIO(), processes=2)


@pytest.mark.parametrize("handed_out_late", [False, True])
def test_a_worker_that_dies_stops_the_command_with_a_message(tiny_model, tmp_path, monkeypatch, handed_out_late):
    """A worker killed mid-run (as the out-of-memory killer would) ends tagging with an error naming the chunk,
    where multiprocessing.Pool waited for its result for ever; the output file given is not written. The same when
    the pool broke before every chunk in flight was handed out (``handed_out_late``: a worker killed on the first
    chunk, the next handed out only after that)."""
    import concurrent.futures
    import contextlib
    import signal

    from bilstm_tagger.errors import BilstmTaggerError
    from bilstm_tagger.inference import prediction

    tag_chunk = prediction._tag_chunk
    dies_from_line = 1 if handed_out_late else 2

    def dies(tagger, path, input_format, first, data):
        if first >= dies_from_line:
            os.kill(os.getpid(), signal.SIGKILL)
        return tag_chunk(tagger, path, input_format, first, data)

    chunk_tagger = prediction._chunk_tagger

    @contextlib.contextmanager
    def hands_out_after_the_first_chunk_ends(tagger, processes):
        with chunk_tagger(tagger, processes) as (submit, lookahead):
            submitted = []

            def submit_later(*chunk):
                concurrent.futures.wait(submitted[:1])  # its worker died: the pool is broken from then on
                submitted.append(submit(*chunk))
                return submitted[-1]

            yield submit_later, lookahead

    monkeypatch.setattr(prediction, "_tag_chunk", dies)  # the forked workers inherit it
    if handed_out_late:
        monkeypatch.setattr(prediction, "_chunk_tagger", hands_out_after_the_first_chunk_ends)
    monkeypatch.setattr(prediction, "CHUNK_SENTENCES", 3)
    monkeypatch.setattr(prediction, "MIN_CHUNK_BYTES", 1)
    text = tmp_path / "in.txt"
    text.write_text("I like cats .\nDogs bark loudly\n" * 5, encoding="utf-8")
    out = tmp_path / "out.conllu"
    def hung(signum, frame):
        raise TimeoutError("predict --processes 2 waited for a dead worker")

    previous = signal.signal(signal.SIGALRM, hung)  # a hang fails this test instead of stopping the suite
    signal.alarm(60)
    try:
        # the chunk named is the first whose result was lost: the killed worker's, or one before it still running
        with pytest.raises(BilstmTaggerError, match=r"worker process ended abruptly while tagging the chunk from line"
                           + (r" 1 " if handed_out_late else "")):
            prediction.predict_file(load_model(tiny_model), input_path=text, output_path=out, processes=2)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not out.exists() and not list(tmp_path.glob(".out.conllu.*"))


def test_several_processes_get_the_frequent_forms_encoded_by_their_parent(tiny_model, tmp_path):
    """The parent of the workers encodes the first chunks' forms, most frequent first (its form cache holds them,
    though it tags nothing itself); multiword tokens, empty nodes and comments are not forms."""
    from bilstm_tagger.inference import prediction

    conllu = (
        "# text = I don't like cats\n1\tI\t_\t_\t_\t_\t_\t_\t_\t_\n2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "2\tdo\t_\t_\t_\t_\t_\t_\t_\t_\n3\tn't\t_\t_\t_\t_\t_\t_\t_\t_\n3.1\tgap\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "4\tcats\t_\t_\t_\t_\t_\t_\t_\t_\n\n1\tcats\t_\t_\t_\t_\t_\t_\t_\t_\n\n"
    ).encode()
    assert prediction._frequent_forms("conllu", [(1, conllu)]) == ["cats", "I", "do", "n't"]
    text = "b a\nc  a\n".encode()
    assert prediction._frequent_forms("text", [(1, text), (3, "a b\n".encode())]) == ["a", "b", "c"]

    tagger = load_model(tiny_model)
    path = tmp_path / "in.txt"
    path.write_text("I like cats .\nDogs bark loudly\n" * 50, encoding="utf-8")
    assert prediction.tag_conllu(tagger, path, io.StringIO(), input_format="text", processes=2) == 350
    assert list(tagger.runtime.cache.rows) == ["I", "like", "cats", ".", "Dogs", "bark", "loudly"]


@pytest.mark.parametrize("processes", [1, 2])
def test_predict_chunks_keep_every_line_and_name_a_bad_one(tiny_model, tiny_data, tmp_path, monkeypatch, processes):
    """Chunks are cut from the raw file (and read by the workers): cut anywhere, the output is the file's, and a
    bad line in a later chunk is named by its number in the file."""
    from bilstm_tagger.errors import CorpusError
    from bilstm_tagger.inference import prediction

    monkeypatch.setattr(prediction, "CHUNK_SENTENCES", 3)
    monkeypatch.setattr(prediction, "MIN_CHUNK_BYTES", 1)  # byte ranges (several processes) as small as that
    tagger = load_model(tiny_model)
    text = tmp_path / "in.txt"
    text.write_text("\n".join(["I like cats .", "", "  Dogs  bark loudly ", "\u3000"] * 5) + "\n", encoding="utf-8")
    handle = io.StringIO()
    assert prediction.tag_conllu(tagger, text, handle, input_format="text", processes=processes) == 35
    sentences = [s for s in handle.getvalue().split("\n\n") if s]
    assert len(sentences) == 10 and sentences[-1].startswith("# sent_id = 19\n")

    conllu = tmp_path / "in.conllu"
    lines = tiny_data.read_text(encoding="utf-8").splitlines(keepends=True)  # 4 sentences
    word = next(i for i, line in enumerate(lines) if line[0].isdigit())
    damaged = [*lines[:word], lines[word].replace("\t", "\t\t", 1), *lines[word + 1:]]
    conllu.write_text("".join(lines * 3 + damaged), encoding="utf-8")  # the damaged copy starts the fifth chunk
    with pytest.raises(CorpusError) as caught:
        prediction.tag_conllu(tagger, conllu, io.StringIO(), processes=processes)
    assert caught.value.line == 3 * len(lines) + word + 1 and "columns" in caught.value.problem


def test_byte_ranges_for_several_processes_end_sentences_and_shrink_towards_the_end(tmp_path, monkeypatch):
    """The chunks the workers read themselves cover the file once, in order, each ending after a line (text) or a
    blank line (CoNLL-U, CRLF and blank lines of spaces included), with the number of its first line; the last
    ones are smaller, so that the workers finish together."""
    from bilstm_tagger.inference import prediction

    monkeypatch.setattr(prediction, "MIN_CHUNK_BYTES", 60)
    monkeypatch.setattr(prediction, "RANGE_BLOCK", 256)  # ends found across several reads
    text = tmp_path / "in.txt"
    text.write_text("".join(f"word{i:03d} and more\n" for i in range(400)), encoding="utf-8")  # 17 bytes a line
    ranges = list(prediction._byte_ranges(text, "text", 100, processes=2))
    data = text.read_bytes()
    sizes = [length for _, _, length in ranges]
    assert sizes[0] == 1700 and sizes == sorted(sizes, reverse=True) and sizes[-1] <= 80 and len(sizes) > 8
    assert all(size % 17 == 0 for size in sizes)  # whole lines
    assert [offset for _, offset, _ in ranges] == [sum(sizes[:i]) for i in range(len(sizes))] and sum(sizes) == len(data)
    assert [first for first, _, _ in ranges] == [1 + data[:offset].count(b"\n") for _, offset, _ in ranges]

    conllu = tmp_path / "in.conllu"
    sentence = "# text = a b\r\n1\ta\t_\t_\t_\t_\t_\t_\t_\t_\r\n2\tb\t_\t_\t_\t_\t_\t_\t_\t_\r\n"
    conllu.write_bytes("".join(sentence + ("  \r\n" if i % 3 else "\r\n\r\n") for i in range(60)).encode())
    data = conllu.read_bytes()
    ranges = list(prediction._byte_ranges(conllu, "conllu", 5, processes=2))
    assert b"".join(data[offset : offset + length] for _, offset, length in ranges) == data and len(ranges) > 4
    assert data[: ranges[0][2]].count(b"# text") in (5, 6)  # about ``size`` sentences, CRLF blank lines counted
    for first, offset, length in ranges:
        assert first == 1 + data[:offset].count(b"\n")
        *_, last_line, after = data[offset : offset + length].split(b"\n")
        assert after == b"" and last_line.strip() == b""  # ends after a blank line


# -- the learnt splitter -----------------------------------------------------------------------------------------

#: Sentences that end without punctuation; each starts with "Then" or "So", capitalised, which no sentence has inside.
UNPUNCTUATED = [
    [start, subject, verb]
    for start in ("Then", "So")
    for subject in ("it", "the dog", "she", "we")
    for verb in ("sleeps", "barks", "left", "came home")
]
UNPUNCTUATED = [[w for part in sentence for w in part.split()] for sentence in UNPUNCTUATED] * 3


def test_splitter_learns_boundaries_the_rule_cannot_see():
    splitter = SentenceSplitter.fit(UNPUNCTUATED, dev=UNPUNCTUATED[:20])
    words = ["Then", "the", "cat", "slept", "So", "we", "left", "Then", "it", "came", "home"]
    assert sentence_spans(words) == [(0, 11)]
    assert splitter.spans(words) == [(0, 4), (4, 7), (7, 11)]
    assert splitter.scores["f1"] == 100.0 and 0 < splitter.threshold < 1


def test_splitter_spans_cover_every_word_and_survive_a_round_trip():
    splitter = SentenceSplitter.fit(UNPUNCTUATED)
    assert splitter.threshold == 0.5 and splitter.scores == {}  # no dev to choose on
    copy = SentenceSplitter.from_dict(json.loads(json.dumps(splitter.to_dict())))
    for words in (["Then"], [], ["So", "it", "left", "Then", "we", "barks", "?", "x"]):
        spans = splitter.spans(words)
        assert [w for a, b in spans for w in words[a:b]] == words
        assert copy.spans(words) == spans
    with pytest.raises(ValueError, match="threshold must be between 0 and 1"):
        SentenceSplitter.from_dict({**splitter.to_dict(), "threshold": 1.0})


def test_splitter_never_cuts_a_quote_off_the_quotation_it_opens_or_closes():
    # logits that start a sentence after every sentence-final token and every quote, opening or closing
    splitter = SentenceSplitter(weights={"s-1=final": 10.0, "s-1=closing": 10.0}, bias=-5.0, threshold=0.5, scores={})
    words = ["He", "said", '"', "Go", ".", '"', "We", "went", ".", '"', "Why", "?", '"']
    cuts = [i for i, logit in enumerate(splitter.gap_logits(words), start=1) if logit >= 0]
    assert cuts == [3, 5, 6, 9, 10, 12]
    # a closing quote stays with its quotation, an opening one with what it opens; a quote after a closed
    # quotation may open a sentence
    assert splitter.spans(words) == [(0, 6), (6, 9), (9, 13)]
    # join_unsplit's pairs are judged by the logits alone
    assert splitter.separates(words[:5], words[5:]) and not splitter.separates(words[:4], words[4:])


def test_splitter_needs_a_gap_of_each_kind_to_learn_from():
    assert SentenceSplitter.fit([["One", "sentence", "only"]]) is None
    assert SentenceSplitter.fit([["Hi"], ["Bye"], ["Ok"]]) is None  # every gap starts a sentence
    assert SentenceSplitter.fit([]) is None


def test_component_splits_with_the_models_splitter_and_falls_back_to_the_rule(tiny_model, tmp_path):
    spacy = pytest.importorskip("spacy")
    from spacy.tokens import Doc

    from bilstm_tagger.serialization import read_model, save_model

    trained = read_model(tiny_model)
    assert trained.splitter is not None
    # a splitter that starts a sentence at every "Dogs", which the rule would not
    trained.splitter = SentenceSplitter(weights={"w+0=Dogs": 10.0}, bias=-5.0, threshold=0.5, scores={})
    save_model(tmp_path / "learnt", config=trained.config, vocabs=trained.vocabs, model=trained.model,
               meta=trained.meta, lemmatizer=trained.lemmatizer, splitter=trained.splitter)
    save_model(tmp_path / "old", config=trained.config, vocabs=trained.vocabs, model=trained.model,
               meta=trained.meta, lemmatizer=trained.lemmatizer)
    assert read_model(tmp_path / "old").splitter is None
    assert read_model(tmp_path / "old").meta["format_version"] == 1  # nothing format 2 added: older versions read it
    words = ["I", "like", "cats", "Dogs", "bark", ".", "The", "cat", "sleeps"]
    for directory, expected in (("learnt", [words[:3], words[3:]]), ("old", [words[:6], words[6:]])):
        nlp = spacy.blank("en")
        nlp.add_pipe("bilstm_tagger", config={"model": str(tmp_path / directory)})
        seen = []
        tagger = nlp.get_pipe("bilstm_tagger").tagger
        tag_ids = tagger.tag_ids
        tagger.tag_ids = lambda sentences, **kwargs: seen.append(sentences) or tag_ids(sentences, **kwargs)
        nlp(Doc(nlp.vocab, words=words))
        assert seen == [expected]
        # spacy.load keeps the splitter
        nlp.to_disk(tmp_path / f"{directory}-pipeline")
        reloaded = spacy.load(tmp_path / f"{directory}-pipeline").get_pipe("bilstm_tagger").tagger.trained
        assert (reloaded.splitter is None) == (directory == "old")


def test_spans_within_paragraphs_never_run_past_a_paragraph():
    from bilstm_tagger.segmentation import spans_within_paragraphs

    words = ["See", "you", "Bob", "Hi", ".", "Thanks", "for", "it"]
    assert sentence_spans(words) == [(0, 5), (5, 8)]
    assert spans_within_paragraphs(sentence_spans, words, [3]) == [(0, 3), (3, 5), (5, 8)]
    assert spans_within_paragraphs(sentence_spans, words, []) == sentence_spans(words)
    assert spans_within_paragraphs(sentence_spans, [], []) == []


def test_component_ends_a_sentence_at_a_blank_line_but_not_at_a_line_break(tiny_model):
    spacy = pytest.importorskip("spacy")

    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(tiny_model)})
    tagger = nlp.get_pipe("bilstm_tagger").tagger
    tagger.trained.splitter = SentenceSplitter(weights={}, bias=-5.0, threshold=0.5, scores={})  # never splits
    seen = []
    tag_ids = tagger.tag_ids
    tagger.tag_ids = lambda sentences, **kwargs: seen.append(sentences) or tag_ids(sentences, **kwargs)
    # a heading, a blank line (one with spaces in it too), then a paragraph hard-wrapped inside its sentence
    doc = nlp("Hotel review\n\nThe staff were\nfriendly \n \n We liked it")
    first, second, third = ["Hotel", "review"], ["The", "staff", "were", "friendly"], ["We", "liked", "it"]
    assert seen == [[first, second, third]]
    alone = load_model(tiny_model).tag([first, second, third])
    words = [t for t in doc if not t.is_space]
    assert [t.pos_ for t in words] == [tag for tags in alone for tag in tags["upos"]]
    assert [t.lemma_ for t in words] == [lemma for tags in alone for lemma in tags["lemma"]]
    assert {t.pos_ for t in doc if t.is_space} == {"SPACE"}
    # the same words with no line breaks at all are one sentence for this splitter
    seen.clear()
    nlp("Hotel review The staff were friendly We liked it")
    assert seen == [[first + second + third]]


def test_splitter_logits_are_the_sum_of_each_gaps_feature_weights():
    import random

    from bilstm_tagger.segmentation import gap_features

    splitter = SentenceSplitter.fit(UNPUNCTUATED + [["It", "is", "5", ".", "OK", "?"], ["(", "see", "U.S.", ")"]])
    rng = random.Random(0)
    vocabulary = sorted({w for s in UNPUNCTUATED for w in s}) + [".", "?", "OK", "5", "(", ")", "<s>", "new"]
    for _ in range(50):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(0, 12))]
        expected = [
            splitter.bias + sum(splitter.weights.get(f, 0.0) for f in gap_features(words, i))
            for i in range(1, len(words))
        ]
        assert splitter.gap_logits(words) == pytest.approx(expected, abs=1e-9)


def test_splitter_separates_two_sentences_where_its_spans_of_both_do():
    import random

    splitter = SentenceSplitter.fit(UNPUNCTUATED + [["It", "is", "5", ".", "OK", "?"], ["(", "see", "U.S.", ")"]])
    splitter.threshold = 0.5
    rng = random.Random(0)
    vocabulary = sorted({w for s in UNPUNCTUATED for w in s}) + [".", "?", "OK", "5", "(", ")", "new"]
    answers = []
    for _ in range(200):
        first, second = ([rng.choice(vocabulary) for _ in range(rng.randint(1, 6))] for _ in range(2))
        starts = {a for a, _ in splitter.spans(first + second)}
        answers.append(splitter.separates(first, second))
        assert answers[-1] == (len(first) in starts), (first, second)
    assert True in answers and False in answers
