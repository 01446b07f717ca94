"""``report.html`` and ``summary.md`` rendered from one :class:`ReportContext` with the
Jinja2 templates shipped in ``equilens/report/templates/`` (HTML autoescaped, Markdown
not). The templates format numbers with the filters below, the same way everywhere:
``pm`` (mean ± std, the std to two significant digits), ``r2`` (two decimals), ``num``
(a format spec) and ``floors_words`` ("the two floors")."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import jinja2

from equilens.report.conclusion import fmt, fmt_fixed
from equilens.report.context import ReportContext, Stat

HTML_TEMPLATE = "report.html.j2"
MARKDOWN_TEMPLATE = "summary.md.j2"
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def render_html(ctx: ReportContext) -> str:
    """report.html: the whole self-contained page."""
    return environment().get_template(HTML_TEMPLATE).render(ctx=ctx)


def render_markdown(ctx: ReportContext) -> str:
    """summary.md: the headline, the conclusion and the report's tables (one newline at
    the end, whichever section comes last)."""
    return environment().get_template(MARKDOWN_TEMPLATE).render(ctx=ctx).rstrip("\n") + "\n"


@cache
def environment() -> jinja2.Environment:
    """The templates of the package, autoescaped when they render HTML (``*.html.j2``);
    an undefined name in a template is an error, not an empty string."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("equilens.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                            default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters.update(pm=pm, r2=r2, num=num, floors_words=floors_words)
    return env


def pm(value: Stat | float | None, std: float | None = None) -> str:
    """``1.234 ± 0.056`` of a :class:`Stat` (or of a mean and its std); "—" when missing."""
    if isinstance(value, Stat):
        value, std = value.mean, value.std
    return fmt(value, std)


def r2(value: Stat) -> str:
    """``0.93 ± 0.02``: a score in [0, 1] with two decimals; "—" when missing."""
    return fmt_fixed(value.mean, value.std, 2)


def num(value: Any, spec: str) -> str:
    """``value`` formatted by ``spec`` (e.g. ",.0f", ".1e"); "—" for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


def floors_words(n: int) -> str:
    """"the floor", "the two floors", ... (how many floors the results table shows)."""
    if n == 1:
        return "the floor"
    return f"the {NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else n} floors"
