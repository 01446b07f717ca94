"""The study: every (molecule, model, seed) run, their analysis, and one report.

The last stage of the pipeline: it plans the runs of a study (:mod:`.plan`), runs
what is missing in a pool of local workers or on Ray (:mod:`.executors`,
:mod:`.runner`), reads the run folders back (:mod:`.aggregate`), draws the figures that
combine runs (:mod:`.figures`), states a conclusion from the numbers
(:mod:`.conclusion`) and writes ``report.html`` (:mod:`.html`) with ``results.json``,
``results.csv`` and ``summary.md`` (:mod:`.document`). ``equilens study`` is its
command line.
"""

from equilens.report.presets import PRESETS, Preset, get_preset
from equilens.report.spec import StudySpec, build_spec
from equilens.report.study import StudyResult, run_study

__all__ = ["PRESETS", "Preset", "StudyResult", "StudySpec", "build_spec", "get_preset",
           "run_study"]
