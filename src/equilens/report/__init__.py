"""The report of a study: its run folders read back, compared and written out.

It reads the run folders (:mod:`.aggregate`, :mod:`.symmetry`), draws the figures that
combine runs (:mod:`.figures`), states a conclusion from the numbers
(:mod:`.conclusion`, :mod:`.efficiency`, :mod:`.compare`) and writes ``report.html``
(:mod:`.html`) with ``results.json``, ``results.csv`` and ``summary.md``
(:mod:`.document`). :func:`study_and_report` runs a study (:mod:`equilens.study`) and
writes its report; ``equilens study`` is its command line.
"""

from equilens.report.study_report import StudyResult, study_and_report

__all__ = ["StudyResult", "study_and_report"]
