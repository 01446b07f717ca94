"""The report of a study: its run folders read back, compared and written out.

It reads the run folders (:mod:`.aggregate`, :mod:`.symmetry`), draws the figures that
combine runs (:mod:`.figures`), states a conclusion from the numbers
(:mod:`.conclusion`, :mod:`.efficiency`, :mod:`.compare`), gathers what the report shows
into one typed context (:mod:`.context`, built by :mod:`.build` and :mod:`.header`) and
renders ``report.html`` and ``summary.md`` from it with the Jinja2 templates of
``templates/`` (:mod:`.render`); :mod:`.document` writes them with ``results.json`` and
``results.csv``. :func:`study_and_report` runs a study (:mod:`equilens.study`) and
writes its report; ``equilens study`` is its command line.
"""

from equilens.report.study_report import StudyResult, study_and_report

__all__ = ["StudyResult", "study_and_report"]
