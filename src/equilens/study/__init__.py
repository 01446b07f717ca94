"""The study: every (molecule, model, seed[, training-set size]) run, trained and analysed.

What a study is (:mod:`.spec`, :mod:`.presets`), the runs it plans and which are done
(:mod:`.plan`), one run's steps in a worker (:mod:`.worker`, :mod:`.symmetry_step`), and
running them in a pool of local processes or on Ray (:mod:`.executors`, :mod:`.threads`,
:mod:`.run`). Reading the runs back and writing the report is :mod:`equilens.report`'s.
"""

from equilens.study.presets import PRESETS, Preset, get_preset
from equilens.study.run import StudyRun, run_study, study_lock
from equilens.study.spec import StudySpec, build_spec

__all__ = ["PRESETS", "Preset", "StudyRun", "StudySpec", "build_spec", "get_preset",
           "run_study", "study_lock"]
