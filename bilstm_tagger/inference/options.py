"""Inference options: how a trained model is asked to tag, checked once where they enter.

:class:`InferenceOptions` checks its own values when it is made (the CLI, the spaCy component's config and library
calls all make one), and :meth:`InferenceOptions.check_for` checks them against what a model family declares it
can do (:class:`~bilstm_tagger.models.base.TaggerModel`), so an option a family does not have is an error that
names the family, before anything is tagged. No torch here: the CLI lists the choices without loading it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..errors import BilstmTaggerError

#: Precisions, and what each does (torch families; every family tags in fp32).
PRECISIONS = {
    "fp32": "float32",
    "bf16": "autocast to bfloat16 (GPUs; CPUs with bf16 matrix units such as Intel's AMX)",
    "fp16": "autocast to float16 (GPUs)",
    "int8": "a dynamically quantized copy of the LSTM and linear layers (CPUs)",
}
#: Padded word slots per batch when tagging: big enough to keep the matrices busy, small enough for RAM.
PREDICT_BATCH_WORDS = 4096
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


class OptionError(BilstmTaggerError):
    """An inference option with a wrong value, or one the model's family does not have."""


def check_device(device: str) -> str:
    """A device setting, normalised ("auto", "cpu", "cuda" or "cuda:N").

    Raises:
        OptionError: for anything else.
    """
    if not isinstance(device, str) or not _DEVICE.fullmatch(device.strip().lower()):
        raise OptionError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")
    return device.strip().lower()


@dataclass(frozen=True)
class InferenceOptions:
    """How to tag.

    Attributes:
        device: "cpu", "cuda", "cuda:N", or "auto" (a GPU when torch sees one and the family runs there).
        precision: one of :data:`PRECISIONS` (torch families; every family tags in "fp32").
        batch_words: padded word slots per batch; results do not depend on it.
        beam_size: seq2seq: hypotheses kept while decoding (1 = greedy); None: the model's own.
        constrain_length: seq2seq: exactly one tag per word; None: the model's own.
        cached_projections: BiLSTM: keep each form's first-layer input projections and run the recurrence step by
            step (float32 only); None: on for the CPU in float32, where it is fastest.
        consistent_tags: BiLSTM and RNN: choose each word's UPOS together with its XPOS and FEATS, among the
            pairs seen in training (:mod:`~bilstm_tagger.models.tag_pairs`); None: on where the model directory
            records those pairs (models trained since they are saved), False: each head on its own.
        lemmatize: for a model that lemmatizes, predict lemmas (False: tags only, faster).
        adapt_threads: on the CPU, tag with torch's thread count while the process gets those cores, and with one
            thread while another process takes them (:class:`~bilstm_tagger.threads.ThreadGovernor`); False:
            always torch's thread count.
        int8_steps: BiLSTM with cached projections: compute the step loop's matrix products in int8, the states
            on one fixed scale (:mod:`~bilstm_tagger.models.int8`), so the other sentences of its batch do not set
            a sentence's scale, as they do in the ``int8`` precision, the loops compiled
            (:mod:`~bilstm_tagger.models.compiled_steps`); None: on wherever cached projections run and this torch
            has int8 products on the CPU (EWT train through spaCy, lemmas on, 1 thread: 69-71k against 37-39k
            words/s for float32, ``nlp(text)`` 1.5 against 3.4-3.9 ms; EWT UPOS 95.88 against 95.89 when it came);
            False: float32 products in torch. The character BiLSTM then also runs step by step in int8
            (``WordCharEmbedding.encode_types``), the linear heads multiply the BiLSTM's states in int8
            (``BiLSTMTagger._heads_in_int8``), and so does the lemmatizer with
            precision fp32 (``CharLemmatizer.predict_lemmas``; for other families' lemmatizers it is on wherever
            torch has int8 products on the CPU).

    Raises:
        OptionError: for a value outside its range.
    """

    device: str = "cpu"
    precision: str = "fp32"
    batch_words: int = PREDICT_BATCH_WORDS
    beam_size: Optional[int] = None
    constrain_length: Optional[bool] = None
    cached_projections: Optional[bool] = None
    consistent_tags: Optional[bool] = None
    lemmatize: bool = True
    adapt_threads: bool = True
    int8_steps: Optional[bool] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", check_device(self.device))
        if self.precision not in PRECISIONS:
            raise OptionError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if not isinstance(self.batch_words, int) or self.batch_words < 1:
            raise OptionError(f"batch_words must be a positive integer, not {self.batch_words!r}")
        if self.beam_size is not None and (not isinstance(self.beam_size, int) or self.beam_size < 1):
            raise OptionError(f"beam size must be at least 1, not {self.beam_size!r}")
        if self.precision == "int8" and self.device.startswith("cuda"):
            raise OptionError(f"precision int8 is for CPUs; on {self.device} use bf16 or fp16")
        if self.consistent_tags is not None and not isinstance(self.consistent_tags, bool):
            raise OptionError(f"consistent_tags must be true, false or null, not {self.consistent_tags!r}")
        if not isinstance(self.lemmatize, bool):
            raise OptionError(f"lemmatize must be true or false, not {self.lemmatize!r}")
        if not isinstance(self.adapt_threads, bool):
            raise OptionError(f"adapt_threads must be true or false, not {self.adapt_threads!r}")
        if self.cached_projections and self.precision != "fp32":
            raise OptionError(f"cached_projections is a float32 path; precision {self.precision} does not use it")
        if self.int8_steps is not None and not isinstance(self.int8_steps, bool):
            raise OptionError(f"int8_steps must be true, false or null, not {self.int8_steps!r}")
        if self.int8_steps and (self.precision != "fp32" or self.cached_projections is False):
            raise OptionError(
                "int8_steps runs in the cached-projection path (precision fp32, cached_projections not false)"
            )

    def check_for(self, model) -> None:
        """Check these options against what ``model``'s family declares (a
        :class:`~bilstm_tagger.models.base.TaggerModel`).

        Raises:
            OptionError: naming the option and the family.
        """
        family = model.family
        if self.precision not in model.precisions:
            raise OptionError(
                f"precision {self.precision!r} is not available for {family} models (they have: "
                f"{', '.join(model.precisions)})"
            )
        device_type = self.device.split(":")[0]
        if device_type != "auto" and device_type not in model.device_types:
            raise OptionError(f"{family} models run on {' or '.join(model.device_types)}, not {self.device!r}")
        for name in ("beam_size", "constrain_length"):
            if getattr(self, name) is not None and name not in model.decoding_settings:
                raise OptionError(f"{name} is a decoding setting of seq2seq models; this model is {family}")
        if self.consistent_tags and "consistent_tags" not in model.decoding_settings:
            raise OptionError(f"consistent_tags is a decoding setting of BiLSTM and RNN models; this model is {family}")
        for name in ("cached_projections", "int8_steps"):
            if getattr(self, name) is not None and "projection" not in model.form_encodings:
                raise OptionError(f"{name} is an option of BiLSTM models; this model is {family}")
