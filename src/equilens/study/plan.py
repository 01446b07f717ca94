"""The runs of a study, their folders and what is left to do in each.

Run folders: ``<out>/runs/<molecule>/<model-slug>/seed<k>``, or
``<out>/runs/<molecule>/<model-slug>/n<size>/seed<k>`` when the study lists training-set
sizes (``train_sizes``); ``<molecule>`` is the system's name, an rMD17 molecule or a data
file's (:mod:`equilens.study.systems`). Each is a normal training run folder (see
:mod:`equilens.training.rundir`) plus the study's own outputs:

- ``test_metrics.json``, ``val_metrics.json``: from ``evaluate`` on both splits;
- ``inference.json``: parameter count and inference speed;
- ``symmetry.json``: the numerical equivariance checks (when :mod:`equilens.symmetry`
  provides ``check_run``);
- ``analysis/latent_scores.json`` and the figures of ``analyze``.

Status: ``done`` when test_metrics.json and analysis/latent_scores.json exist (and the
other study outputs); ``resume`` when config.yaml exists (the run was started: training
continues from its last finished epoch, finished steps are skipped); ``new`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from equilens.errors import RunDirError
from equilens.models import ModelSpec
from equilens.models.external import is_external
from equilens.study.spec import StudySpec
from equilens.training import rundir
from equilens.training.config import Config, flatten

VAL_METRICS = "val_metrics.json"
INFERENCE = "inference.json"
SYMMETRY = "symmetry.json"
SCORES = "analysis/latent_scores.json"
#: Outputs of every finished run, in the order the steps write them.
REQUIRED = (rundir.TEST_METRICS, VAL_METRICS, INFERENCE, SCORES)

#: Rough cost of one epoch per frame and atom, relative to gcn (measured on 1 core);
#: only orders the queue, longest runs first, so no worker idles at the end. ``egnn``
#: with ``l_max=0`` (scalars only) costs ``egnn0``; an unlisted model 4.
_COST = {"gcn": 1.0, "egnn0": 3.0, "egnn": 8.0, "mlp": 1.0}


def model_slug(spec: str | ModelSpec) -> str:
    """Folder name of a model spec (:attr:`ModelSpec.slug`):
    ``egnn:l_max=0,channels=16`` → ``egnn_l_max0_channels16``."""
    return ModelSpec.parse(spec).slug


def run_folder(out: Path, molecule: str, model: str | ModelSpec, seed: int,
               train_size: int | None = None) -> Path:
    """Folder of one run; ``train_size`` None (a study of one size) keeps no ``n<size>``
    level, so studies made before training-set sizes existed still resume."""
    base = Path(out) / "runs" / molecule / model_slug(model)
    if train_size is not None:
        base = base / f"n{train_size}"
    return base / f"seed{seed}"


@dataclass
class PlannedRun:
    molecule: str
    #: the canonical model spec string (``spec`` is its parsed form)
    model: str
    seed: int
    run_dir: Path
    config: Config
    status: str  # "done", "resume" or "new"
    #: the saved config differs only in data.data_dir: record the new folder on resume
    #: (the data files themselves are checked by SHA-256 when training resumes)
    rewrite_config: bool = False
    #: the study's training-set size of this run (None: the study has one size)
    train_size: int | None = None

    @property
    def label(self) -> str:
        size = "" if self.train_size is None else f" n={self.train_size}"
        return f"{self.molecule} {self.model}{size} seed {self.seed}"

    @property
    def spec(self) -> ModelSpec:
        """The run's model spec, as its config validated it."""
        return self.config.model_spec

    @property
    def cost(self) -> float:
        spec = self.spec
        name = "egnn0" if spec.name == "egnn" and spec.config.l_max == 0 else spec.name
        n_atoms = _N_ATOMS.get(self.molecule, 15)
        d, t = self.config.data, self.config.training
        if is_external(spec.name):  # no training: one pass over every frame, twice
            return _PRETRAINED_COST * n_atoms * (d.n_train + d.n_val + d.n_test)
        return _COST.get(name, 4.0) * n_atoms * (d.n_train + d.n_val) * t.epochs


#: Rough cost of a pretrained run per frame and atom (offset fit, evaluation, analysis
#: with its random-weights control), on the scale of ``_COST``.
_PRETRAINED_COST = 60.0

_N_ATOMS = {"aspirin": 21, "azobenzene": 24, "benzene": 12, "ethanol": 9, "malonaldehyde": 9,
            "naphthalene": 18, "paracetamol": 20, "salicylic": 16, "toluene": 15, "uracil": 12}


def run_status(run_dir: Path, required: tuple[str, ...] = REQUIRED) -> str:
    """'done', 'resume' or 'new' (see module docstring)."""
    if all((run_dir / name).is_file() for name in required):
        return "done"
    if (run_dir / rundir.CONFIG).is_file():
        return "resume"
    return "new"


def required_outputs(symmetry: bool) -> tuple[str, ...]:
    return REQUIRED + ((SYMMETRY,) if symmetry else ())


def plan_runs(spec: StudySpec, out: Path, symmetry: bool = False) -> list[PlannedRun]:
    """Every (molecule, model, training-set size, seed) of the study with its folder and
    status.

    A started run whose saved config differs from the one the study asks for is an
    error (naming the keys): the folder belongs to another study.
    """
    runs = []
    required = required_outputs(symmetry)
    for molecule in spec.molecules:
        for model in spec.model_specs:
            for size in spec.sizes:
                for seed in spec.seeds:
                    run_dir = run_folder(out, molecule, model, seed, size)
                    config = spec.run_config(molecule, model, seed, size)
                    status = run_status(run_dir, required)
                    rewrite = False
                    if (run_dir / rundir.CONFIG).is_file():
                        rewrite = _check_same_config(run_dir, config) and status != "done"
                    runs.append(PlannedRun(molecule, model.canonical, seed, run_dir, config,
                                           status, rewrite, size))
    return runs


def _check_same_config(run_dir: Path, config: Config) -> bool:
    """Raise if the saved config differs in a key that matters; True if it differs at all."""
    try:
        saved = yaml.safe_load((run_dir / rundir.CONFIG).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RunDirError(f"{run_dir}: unreadable {rundir.CONFIG} ({err})") from None
    want = flatten(config.to_dict())
    have = flatten(saved if isinstance(saved, dict) else {})
    # a key added to the config after the run was made counts at its default value
    defaults = flatten(Config().to_dict())
    have |= {k: defaults[k] for k in want if k not in have and k in defaults}
    diff = sorted(k for k in set(want) | set(have) if have.get(k) != want.get(k))
    if set(diff) - set(rundir.MOVABLE):
        diff = [k for k in diff if k not in rundir.MOVABLE]
        shown = ", ".join(f"{k} ({have.get(k)!r} there, {want.get(k)!r} now)" for k in diff[:4])
        raise RunDirError(
            f"{run_dir} was made with a different config: {shown}. Rerun with the same "
            "options to resume that study, or give another --out")
    return bool(diff)

