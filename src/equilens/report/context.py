"""What the report says, as typed data: the one context both documents are rendered from.

:func:`equilens.report.build.build_context` fills a :class:`ReportContext` from the study's
run folders; :mod:`equilens.report.render` renders ``report.html`` and ``summary.md`` from
it with the templates in ``report/templates/``. Numbers stay numbers here (a :class:`Stat`
is mean, std and count over seeds, in the unit its field names); the templates format
them. Figures are PNG data URIs, so the page is self-contained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from equilens.analysis.table import KINDS


@dataclass(frozen=True)
class Stat:
    """mean ± std over seeds of one quantity; ``mean`` None: no value; ``std`` None or
    NaN: one seed (no spread)."""

    mean: float | None
    std: float | None = None
    n: int = 0

    @classmethod
    def of(cls, stats: dict[str, Any] | None, scale: float = 1.0) -> Stat:
        """From a ``{"mean", "std", "n"}`` dict of :func:`equilens.report.aggregate.stats`,
        multiplied by ``scale`` (e.g. kcal/mol → meV)."""
        if not stats or stats.get("mean") is None:
            return cls(None)
        std = stats.get("std")
        return cls(stats["mean"] * scale, None if std is None else std * scale,
                   int(stats.get("n") or 0))


@dataclass
class Figure:
    """One embedded image: ``uri`` a ``data:image/png;base64,...`` URI; ``link`` a page
    relative to report.html (a run's latent explorer), shown under it when set; ``hover``
    the JSON of :func:`equilens.report.hover.hover_points` for a latent map, or None."""

    uri: str
    caption: str
    alt: str
    link: str | None = None
    hover: str | None = None


@dataclass
class FigureGrid:
    """Figures side by side: ``kind`` "" (as many as fit), "wide" (one per row), "narrow"
    (one, at most 820 px) or "cols" (``columns`` per row); missing figures are left out."""

    figures: list[Figure]
    kind: str = ""
    columns: int = 0


@dataclass
class Header:
    """The study's description at the top of both documents (every field display text)."""

    title: str
    preset: str
    preset_description: str
    molecules: list[str]
    models: list[str]
    seeds: list[int]
    frames: str  # set sizes per molecule, split, labels, cutoff
    training: str  # epochs, batch, optimiser, loss, dtype
    method: str  # the latent map's method, e.g. "t-SNE (perplexity 30)"
    runs: str  # how many runs, done, failed, incomplete
    wall_time: str
    executor: str
    threads: str  # the inference timing's threads
    generated: str  # date and equilens version
    command: str  # the command line that reproduces the study
    study_yaml: str  # the resolved study.yaml


@dataclass
class Floor:
    """A floor every model must beat (a row of each results block); its legend entry."""

    name: str
    description: str


@dataclass
class FloorRow:
    """One floor's energy MAE in one results block, kcal/mol and meV."""

    name: str
    val: Stat
    val_mev: Stat
    test: Stat
    test_mev: Stat
    n_seeds: int


@dataclass
class ModelRow:
    """One model's results in one block; ``best``: lowest test MAE of the block."""

    model: str
    val: Stat  # validation energy MAE, kcal/mol
    val_mev: Stat
    test: Stat  # test energy MAE, kcal/mol
    test_mev: Stat
    test_force: Stat  # test force MAE, kcal/mol/Å
    parameters: float | None
    train_time: Stat  # s
    inference: Stat  # frames/s
    n_seeds: int
    best: bool
    flags: str = ""  # "did not learn (seeds 0, 1 of 3); still improving (seed 2 of 3)"
    note: str = ""  # "pretrained, not trained here" for a pretrained model


@dataclass
class ResultBlock:
    """The rows of one molecule (and training-set size, when the study has several);
    ``new_molecule``: the molecule's first block (the one that names it)."""

    molecule: str
    n_train: int | None
    floors: list[FloorRow]
    models: list[ModelRow]
    new_molecule: bool = True


@dataclass
class ModelNote:
    """A model spec and a few words on what it is (the results table's legend)."""

    model: str
    description: str


@dataclass
class Results:
    """The results table: ``sized`` adds a training-frames column, ``forces`` a force MAE
    column; ``floors`` and ``models`` are its legend."""

    blocks: list[ResultBlock]
    floors: list[Floor]
    models: list[ModelNote]
    sized: bool
    forces: bool
    overview: FigureGrid


#: The latent table's kinds of target, in column order (the analysis's kinds).
LATENT_KINDS: tuple[str, ...] = KINDS


@dataclass
class LatentRow:
    """Latent scores of one molecule × model × representation, per kind of target, mean ±
    std over seeds.

    ``representation``: ``trained``, ``random weights`` (the same architecture untrained)
    or ``geometry control`` (each target from the other targets; one row per molecule,
    ``model`` empty). ``probe`` and ``kernel``: the linear and the kernel probe's R², one
    :class:`Stat` per kind of :data:`LATENT_KINDS` (mean over the kind's targets).
    ``did_not_learn``: the model did not learn in some seed (its latent is still scored).
    """

    molecule: str
    model: str
    representation: str
    probe: list[Stat]
    kernel: list[Stat]
    trustworthiness: Stat
    n_seeds: int
    first: bool  # the molecule's first row
    did_not_learn: bool = False


@dataclass
class LatentMaps:
    """One molecule's latent maps, one per model."""

    molecule: str
    grid: FigureGrid


@dataclass
class VariableRow:
    """How well one model's latent encodes one target (R² over seeds)."""

    target: str
    model: str
    probe: Stat
    knn_2d: Stat
    knn_full: Stat
    probe_random: Stat
    n_seeds: int
    first: bool  # the target's first row


@dataclass
class Colouring:
    """The latent maps of every model coloured by one variable."""

    variable: str
    grid: FigureGrid


@dataclass
class Ethanol:
    """The post's ethanol variables: histograms, maps per colouring, scores."""

    variables: list[str]
    histograms: FigureGrid
    colourings: list[Colouring]
    rows: list[VariableRow]


@dataclass
class WorstCheck:
    """The check of one dtype whose relative error came closest to its tolerance."""

    dtype: str
    check: str
    max_rel_error: float | None
    tolerance: float | None


@dataclass
class SymmetryRow:
    molecule: str
    model: str
    n_passed: int
    n_checks: int
    worst: list[WorstCheck]  # by dtype, float64 first
    failed: list[str]  # "check (dtype)" of each failed check
    error: str | None  # why the checks could not run
    n_runs: int
    first: bool  # the molecule's first row

    @property
    def ok(self) -> bool:
        return bool(self.n_checks) and self.n_passed == self.n_checks and not self.error

    def worst_of(self, dtype: str) -> WorstCheck | None:
        return next((w for w in self.worst if w.dtype == dtype), None)


@dataclass
class Symmetry:
    dtypes: list[str]  # one column each, float64 first
    rows: list[SymmetryRow]


@dataclass
class SlopeRow:
    """One line of the sample-efficiency table (display text, from
    :func:`equilens.report.efficiency.slope_rows`)."""

    molecule: str
    model: str
    quantity: str
    slope: str
    per_seed: str
    r2: str
    first: str
    last: str
    seeds: str


@dataclass
class Efficiency:
    method: str
    grid: FigureGrid
    rows: list[SlopeRow]


#: How the report words a verdict of "a against b".
VERDICT_WORDS = {"better": "first better", "worse": "second better",
                 "no difference detected": "no difference detected",
                 "not comparable": "not comparable (neither learned)",
                 "tie": "no difference detected", "unknown": "one seed"}


@dataclass
class Side:
    """One study's verdict on a comparison: a's and b's mean ± std and the verdict."""

    verdict: str
    mean_a: float | None
    std_a: float | None
    mean_b: float | None
    std_b: float | None

    @property
    def words(self) -> str:
        return VERDICT_WORDS.get(self.verdict, self.verdict)


@dataclass
class CompareRow:
    molecule: str
    a: str
    b: str
    label: str  # the quantity, in words
    there: Side  # the other study
    here: Side  # this study
    same: bool


@dataclass
class Compare:
    """This study's verdicts against another study's."""

    other: str  # its folder
    other_preset: str
    other_epochs: str  # e.g. "50" or "50/200", "?" when unknown
    n_same: int
    n_compared: int
    rows: list[CompareRow]


@dataclass
class RunRow:
    """One run of the study (a row of the runs table)."""

    molecule: str
    model: str
    n_train: int | None
    seed: int
    status: str  # "done", "failed", ...
    error: str | None
    epochs: int | None
    best_epoch: int | None
    val_mae: float | None  # kcal/mol
    test_mae: float | None  # kcal/mol
    train_time: float | None  # s
    folder: str  # relative to the study folder when inside it


@dataclass
class MoleculeConclusion:
    molecule: str
    sentences: list[str]


@dataclass
class Similarity:
    """One molecule's latent spaces compared (GFRE, LFRE, CKA matrices): its figure (None
    when fewer than two latents compare), the CSV's name and a note (who is left out, or
    why nothing compares)."""

    molecule: str
    figure: FigureGrid
    csv: str | None
    note: str


@dataclass
class ReportContext:
    """Everything ``report.html`` and ``summary.md`` show, in the order they show it.

    ``headline``: at most a few plain sentences, first in both documents; ``at``: " at N
    training frames" when the study has several sizes (the size every one-size section
    uses), else ""."""

    header: Header
    headline: list[str]
    conclusion: list[MoleculeConclusion]
    results: Results
    efficiency: Efficiency | None
    curves: FigureGrid
    histograms: FigureGrid
    hist_note: str
    latent_maps: list[LatentMaps]
    latent_rows: list[LatentRow]
    ethanol: Ethanol | None
    compare: Compare | None
    symmetry: Symmetry | None
    runs: list[RunRow]
    at: str = ""
    #: what has no learning curve and why (pretrained models), or ""
    curves_note: str = ""
    similarity: list[Similarity] = field(default_factory=list)

    @property
    def latent_kinds(self) -> list[str]:
        """The kinds of target of the latent table's columns: those with a score in some row
        (``LatentRow.probe``/``kernel`` keep one entry per kind of :data:`LATENT_KINDS`)."""
        return [k for i, k in enumerate(LATENT_KINDS)
                if any(r.probe[i].mean is not None for r in self.latent_rows)]

    @property
    def latent_columns(self) -> list[int]:
        """The indices into :data:`LATENT_KINDS` of :attr:`latent_kinds`."""
        return [LATENT_KINDS.index(k) for k in self.latent_kinds]

    @property
    def failed_runs(self) -> list[RunRow]:
        return [r for r in self.runs if r.status == "failed"]
