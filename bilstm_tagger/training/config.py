"""Training configs: reading a ``.cfg`` file with overrides, and checking its ``[paths]``, ``[system]``,
``[training]`` and ``[lemmatizer]`` sections (``[model]`` and ``[lemmatizer.model]`` are checked by the registry
against the architecture's signature).

Each section's defaults are written once, in the dataclass below; ``configs/bilstm.cfg`` repeats them with a comment
per setting, and a test keeps the two equal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Type, TypeVar, Union

from confection import Config

from ..errors import BilstmTaggerError, ConfigError, config_error_text
from ..inference.options import check_device
from ..targets import TARGET_NAMES

Section = TypeVar("Section")


def _read_section(cls: Type[Section], name: str, values: Mapping[str, Any]) -> Section:
    """A section's dataclass from the config's values, refusing names it does not know (a typo is not ignored)."""
    known = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"[{name}] has unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"[{name}]: {exc}") from None


@dataclass
class PathsSettings:
    """The ``[paths]`` section: training and development CoNLL-U files (``--train``/``--dev`` on the CLI)."""

    train: Optional[str] = None
    dev: Optional[str] = None

    def __post_init__(self) -> None:
        if not self.train or not self.dev:
            raise ConfigError("training needs a train and a dev file: pass --train and --dev (or set [paths])")


@dataclass
class SystemSettings:
    """The ``[system]`` section: the random seed, the device ("auto", "cpu", "cuda", "cuda:N"), and whether runs
    with several CPU threads must repeat bit for bit (``deterministic``; runs with one thread always do)."""

    seed: int = 0
    device: str = "auto"
    deterministic: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"[system] seed must be an integer, not {self.seed!r}")
        if not isinstance(self.deterministic, bool):
            raise ConfigError(f"[system] deterministic must be true or false, not {self.deterministic!r}")
        try:
            self.device = check_device(self.device)
        except BilstmTaggerError as exc:
            raise ConfigError(f"[system] {exc}") from None


#: Learning-rate schedules of ``[training] schedule``: "plateau" multiplies the rate by ``lr_decay`` after each
#: epoch without a better dev score; "linear" keeps it for the first ``decay_start`` of ``max_epochs`` (a fraction),
#: then lowers it in every step, to 0 at the end of the last epoch.
SCHEDULES = ("plateau", "linear")


def _check_schedule(section: str, schedule: str, decay_start: float) -> None:
    if schedule not in SCHEDULES:
        raise ConfigError(f"[{section}] schedule must be one of {list(SCHEDULES)}, not {schedule!r}")
    if not 0.0 <= decay_start < 1.0:
        raise ConfigError(f"[{section}] decay_start must be at least 0 and below 1, not {decay_start!r}")


@dataclass
class TrainingSettings:
    """The ``[training]`` section; each field is documented in ``configs/bilstm.cfg``."""

    targets: Sequence[str] = TARGET_NAMES
    min_freq: int = 2
    word_dropout: float = 0.25
    max_epochs: int = 40
    epoch_words: int = 50000
    join_sentences: float = 0.0
    join_unsplit: bool = True
    patience: int = 6
    batch_words: int = 1000
    learning_rate: float = 0.002
    beta2: float = 0.9
    schedule: str = "linear"
    decay_start: float = 0.6
    lr_decay: float = 0.5
    grad_clip: float = 5.0
    ema_decay: float = 0.999
    max_minutes: float = 28.0
    lexicon: Optional[str] = "auto"

    def __post_init__(self) -> None:
        _check_schedule("training", self.schedule, self.decay_start)
        if not isinstance(self.join_unsplit, bool):
            raise ConfigError(f"[training] join_unsplit must be true or false, not {self.join_unsplit!r}")
        if self.lexicon is not None and (not isinstance(self.lexicon, str) or not self.lexicon):
            raise ConfigError(
                f"[training] lexicon must be \"auto\", a language code, a lexicon .npz file or null, "
                f"not {self.lexicon!r}"
            )
        bad = [t for t in self.targets if t not in TARGET_NAMES]
        if bad or not self.targets:
            raise ConfigError(
                f"[training] targets must be a non-empty subset of {list(TARGET_NAMES)}, got {list(self.targets)}"
            )


#: The lemmatizer's architecture when a config has no ``[lemmatizer.model]``.
LEMMATIZER_ARCHITECTURE = {"@architectures": "bilstm_tagger.Lemmatizer.v2"}


@dataclass
class LemmatizerSettings:
    """The ``[lemmatizer]`` section: how the lemmatizer is trained (when ``lemma`` is among the targets and the
    training file has lemmas); ``model`` is its ``[lemmatizer.model]`` block. Each field is documented in
    ``configs/bilstm.cfg``."""

    model: Dict[str, Any] = dataclasses.field(default_factory=lambda: dict(LEMMATIZER_ARCHITECTURE))
    max_epochs: int = 20
    patience: int = 5
    epoch_forms: int = 20000
    batch_forms: int = 100
    learning_rate: float = 0.002
    schedule: str = "linear"
    decay_start: float = 0.6
    lr_decay: float = 0.5
    grad_clip: float = 5.0
    max_minutes: float = 15.0

    def __post_init__(self) -> None:
        self.model = dict(self.model)
        _check_schedule("lemmatizer", self.schedule, self.decay_start)
        if "@architectures" not in self.model:
            raise ConfigError("[lemmatizer.model] must name an @architectures (bilstm_tagger.Lemmatizer.v2)")


@dataclass
class Settings:
    """A training config's checked sections (``model`` stays the config's own, for the registry)."""

    paths: PathsSettings
    system: SystemSettings
    training: TrainingSettings
    model: Dict[str, Any]
    lemmatizer: LemmatizerSettings

    @classmethod
    def from_config(cls, config: Config) -> "Settings":
        unknown = sorted(set(config) - {"paths", "system", "model", "training", "lemmatizer"})
        if unknown:
            raise ConfigError(
                f"unknown config section(s) {', '.join(unknown)}: use [paths], [system], [model], [training], "
                "[lemmatizer]"
            )
        if "model" not in config:
            raise ConfigError("the config has no [model] section naming an @architectures")
        return cls(
            paths=_read_section(PathsSettings, "paths", config.get("paths", {})),
            system=_read_section(SystemSettings, "system", config.get("system", {})),
            training=_read_section(TrainingSettings, "training", config.get("training", {})),
            model=dict(config["model"]),
            lemmatizer=_read_section(LemmatizerSettings, "lemmatizer", config.get("lemmatizer", {})),
        )


def load_config(path: Union[str, Path], overrides: Optional[Dict[str, Any]] = None) -> Config:
    """Read a ``.cfg`` file and apply ``section.key`` overrides (the CLI's ``--section.key value`` and its
    ``--train``, ``--dev``, ``--seed``, ``--device``), interpolating ``${...}`` references.

    Raises:
        ConfigError: for a missing or malformed file, or an override naming an unknown section.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        return Config().from_disk(path, overrides=overrides or {}, interpolate=True)
    except Exception as exc:  # confection raises several types for malformed files and overrides
        raise ConfigError(f"{path}: {config_error_text(exc)}") from None
