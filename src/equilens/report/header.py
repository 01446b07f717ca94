"""The study's description at the top of the report: preset, set sizes, training, runs,
wall time (:class:`equilens.report.context.Header`)."""

from __future__ import annotations

from typing import Any

from equilens import __version__
from equilens.report.context import Header
from equilens.study.presets import get_preset
from equilens.study.spec import StudySpec

TITLE = "equilens study: equivariant vs invariant GNNs on rMD17"


def title(spec: StudySpec) -> str:
    """:data:`TITLE`, or what the study's systems are when it has data files."""
    if not spec.systems:
        return TITLE
    where = "rMD17 and data files" if spec.rmd17_molecules else "data files"
    return TITLE.replace("rMD17", where)


def build_header(spec: StudySpec, summary: dict[str, Any], *, command: str = "",
                 executor_text: str = "", threads_text: str = "") -> Header:
    """The header of a study whose ``summary`` (summary.json's content: n_runs, n_done,
    n_failed, invocations, generated) is being written."""
    return Header(
        title=title(spec), preset=spec.preset,
        preset_description=get_preset(spec.preset).description + changes_text(spec),
        molecules=list(spec.molecules), models=list(spec.models), seeds=list(spec.seeds),
        frames=sizes_text(spec), training=training_text(spec), method=method_text(spec),
        runs=runs_text(spec, summary), wall_time=wall_text(summary),
        executor=executor_text or "—", threads=threads_text or "as run",
        generated=f"{summary['generated']} by equilens {__version__}",
        command=command, study_yaml=spec.to_yaml())


def changes_text(spec: StudySpec) -> str:
    """What the study sets differently from its preset (dotted keys as given but the data
    folder, forces, the seeds, the models), as "; changed here: training.epochs=15, seeds
    0, 1", or ""."""
    preset = get_preset(spec.preset)
    changed = [f"{k}={v}" for k, v in spec.overrides.items()
               if preset.overrides.get(k) != v and k != "data.data_dir"]  # where, not what
    if spec.forces:
        changed.append("trained on forces")
    if tuple(spec.seeds) != tuple(preset.seeds):
        changed.append("seeds " + ", ".join(map(str, spec.seeds)))
    if tuple(spec.models) != tuple(preset.models):
        changed.append("models " + ", ".join(spec.models))
    if spec.systems:
        changed.append("data files, whose frame counts are not the preset's")
    return "; changed here: " + ", ".join(changed) if changed else ""


def method_text(spec: StudySpec) -> str:
    return {"tsne": f"t-SNE (perplexity {spec.perplexity:g})", "pca": "PCA",
            "umap": "UMAP"}[spec.method]


def runs_text(spec: StudySpec, summary: dict[str, Any]) -> str:
    """"6 = 1 molecule(s) x 3 model(s) x 2 seed(s); 5 done, 1 failed"."""
    n, done, failed = summary["n_runs"], summary["n_done"], summary["n_failed"]
    sizes = (f" x {len(spec.train_sizes)} training-set size(s)"
             if len(spec.train_sizes) > 1 else "")
    return (f"{n} = {len(spec.molecules)} molecule(s) x {len(spec.models)} "
            f"model(s){sizes} x {len(spec.seeds)} seed(s); {done} done"
            + (f", {failed} failed" if failed else "")
            + (f", {n - done - failed} incomplete" if n - done - failed else ""))


def _first_config(spec: StudySpec, molecule: str | None = None) -> Any:
    return spec.run_config(molecule or spec.molecules[0], spec.models[0], spec.seeds[0],
                           spec.sizes[0])


def sizes_text(spec: StudySpec) -> str:
    """Training/validation/test frames per molecule, the split, labels and cutoff."""
    parts = []
    train = "{" + ", ".join(map(str, spec.train_sizes)) + "}" if len(spec.train_sizes) > 1 \
        else None
    for mol in spec.molecules:
        d = _first_config(spec, mol).data
        parts.append(f"{mol} {train or d.n_train}/{d.n_val}/{d.n_test}")
    d = _first_config(spec).data
    rmd17 = f"rMD17 split {d.split}, {d.labels} labels, " if spec.rmd17_molecules else ""
    return (", ".join(parts) + f" (train/validation/test; {rmd17}cutoff {d.cutoff:g} Å)"
            + files_text(spec))


def files_text(spec: StudySpec) -> str:
    """"; files: mixed = /data/mixed.extxyz (70 frames, energy key 'energy')" for the data
    files of the study (energies in eV in ASE files, converted to kcal/mol), or ""."""
    if not spec.systems:
        return ""
    parts = []
    for system in spec.systems:
        d = _first_config(spec, system.name).data
        mixed = (f", {len(system.formulas)} compositions: {', '.join(system.formulas[:4])}"
                 f"{', ...' if len(system.formulas) > 4 else ''}; the mean predictor is then "
                 "the per-element reference fitted on element counts (each composition's "
                 "mean), and the latent target energy_residual is the energy beyond it"
                 if len(system.formulas) > 1 else "")
        parts.append(f"{system.name} = {system.file} ({system.n_frames} frames, energy key "
                     f"'{d.energy_key}'{mixed})")
    return ("; files (ASE files in eV and Å, converted to kcal/mol): " + ", ".join(parts))


def training_text(spec: StudySpec) -> str:
    t = _first_config(spec).training
    target = (f"energy + forces (weights {t.energy_weight:g} / {t.force_weight:g})"
              if t.forces else "the normalised energy")
    return (f"{t.epochs} epochs, batch {t.batch_size}, Adam lr {t.lr:g}, {t.loss.upper()} loss "
            f"on {target}, ReduceLROnPlateau (factor {t.lr_factor:g}, patience "
            f"{t.lr_patience}), {t.dtype}")


def wall_text(summary: dict[str, Any]) -> str:
    inv = summary["invocations"]
    if not inv:
        return "—"
    last = inv[-1]
    runs = (f"{last.get('runs_executed', 0)} run(s) executed, {last.get('runs_reused', 0)} "
            "reused")
    if len(inv) == 1:
        return f"{duration(last.get('wall_time_s', 0.0))} ({runs})"
    return (f"{duration(summary['wall_time_s_total'])} over {len(inv)} invocations; the last "
            f"took {duration(last.get('wall_time_s', 0.0))} ({runs})")


def duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"
