"""report.html and summary.md from a hand-made ReportContext: escaping, the headline first,
floors listed generically, explorer links only where a run has one, every section shown."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import pytest

from equilens.report.build import explorer_link, figure, grid
from equilens.report.context import (Compare, CompareRow, Figure, FigureGrid, Floor, FloorRow,
                                     Header, LatentMaps, LatentRow, ModelNote, ModelRow,
                                     MoleculeConclusion, ReportContext, ResultBlock, Results,
                                     RunRow, Side, Stat, Symmetry, SymmetryRow, WorstCheck)
from equilens.report.render import floors_words, render_html, render_markdown

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
EVIL = "<b>gcn</b>&x"


def _floor(name: str, mae: float) -> FloorRow:
    return FloorRow(name, Stat(mae, 0.1, 2), Stat(mae * 43.4, 4.3, 2), Stat(mae, 0.1, 2),
                    Stat(mae * 43.4, 4.3, 2), 2)


def _model(name: str, mae: float, best: bool) -> ModelRow:
    s = Stat(mae, 0.01, 2)
    return ModelRow(name, s, s, s, s, Stat(None), 12609.0, Stat(10.0, 1.0, 2),
                    Stat(500.0, 5.0, 2), 2, best)


def _context(floors: tuple[str, ...] = ("mean predictor", "ridge on 1/r")) -> ReportContext:
    header = Header("a <title>", "quick", "small", ["ethanol"], ["egnn", EVIL], [0, 1],
                    "ethanol 20/24/10", "2 epochs", "PCA", "4 runs", "1 s", "local", "1 thread",
                    "today", "equilens study --out 'a&b'", "seeds: [0, 1]\n")
    block = ResultBlock("ethanol", None, [_floor(n, 3.0 + i) for i, n in enumerate(floors)],
                        [_model("egnn", 1.234, True), _model(EVIL, 2.5, False)])
    maps = FigureGrid([Figure(PNG, "ethanol — egnn: latent map", "map", "runs/e/analysis/"
                              "explorer.html"), Figure(PNG, "ethanol — gcn: latent map", "map")],
                      "cols", 3)
    latent = [LatentRow("ethanol", m, rep, [Stat(0.5, 0.05, 2)] * 4 + [Stat(None)], [Stat(0.6, 0.05, 2)] * 4 + [Stat(None)],
                        Stat(0.9, 0.01, 2), n_seeds=2, first=i == 0 and rep == "trained",
                        did_not_learn=m == EVIL)
              for i, m in enumerate(["egnn", EVIL]) for rep in ("trained", "random weights")]
    latent.append(LatentRow("ethanol", "", "geometry control", [Stat(0.1, 0.02, 2)] * 4 + [Stat(None)],
                            [Stat(0.2, 0.02, 2)] * 4 + [Stat(None)], Stat(None), n_seeds=2, first=False))
    side = Side("better", 1.2, 0.1, 2.5, 0.2)
    return ReportContext(
        header=header, headline=["egnn beats <gcn> on ethanol.", "Second line."],
        conclusion=[MoleculeConclusion("ethanol", ["egnn is more accurate than <gcn>."])],
        results=Results([block], [Floor(n, f"what {n} is") for n in floors],
                        [ModelNote("egnn", "equivariant"), ModelNote(EVIL, "invariant")],
                        sized=False, forces=False, overview=FigureGrid([])),
        efficiency=None, curves=FigureGrid([Figure(PNG, "ethanol: learning curves", "c")], "wide"),
        histograms=FigureGrid([]), hist_note="from the split of seed 0",
        latent_maps=[LatentMaps("ethanol", maps)], latent_rows=latent, ethanol=None,
        compare=Compare("../other", "seed", "50", 1, 1, [CompareRow(
            "ethanol", "egnn", EVIL, "test energy MAE", side, side, True)]),
        symmetry=Symmetry(["float64"], [SymmetryRow(
            "ethanol", "egnn", 27, 28, [WorstCheck("float64", "forces/rotation", 8.9e-15, 1e-9)],
            ["energy/rotation (float64)"], None, 2, True)]),
        runs=[RunRow("ethanol", EVIL, 20, 0, "failed", "ValueError: <bad> & worse", None, None,
                     None, None, None, "runs/ethanol/gcn/seed0")])


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Text:
    parser = _Text()
    parser.feed(page)
    return parser


def test_html_escapes_every_value_and_keeps_the_page_self_contained():
    page = render_html(_context())
    shown = _parse(page)
    assert shown.tags.count("b") == 1  # the page's own "Bold": <b>gcn</b> stayed text
    text = "".join(shown.text)
    assert EVIL in text and "ValueError: <bad> & worse" in text and "a <title>" in text
    assert "&lt;b&gt;gcn&lt;/b&gt;&amp;x" in page
    assert not re.search(r'<(img|script|link|iframe)[^>]+(src|href)="(?!data:)', page)
    assert page.count("<img ") == 3 and page.count("<table>") == 5


def test_the_headline_comes_first_in_both_documents():
    ctx = _context()
    page, md = render_html(ctx), render_markdown(ctx)
    assert page.index("egnn beats &lt;gcn&gt; on ethanol.") < page.index('class="sub"')
    assert page.index("Second line.") < page.index('<h2 id="conclusion">')
    first = md.splitlines()[2:4]
    assert first == ["* egnn beats <gcn> on ethanol.", "* Second line."]
    assert md.index("Second line.") < md.index("- preset: quick")


def test_a_third_floor_is_a_row_and_a_legend_entry_in_both_documents():
    ctx = _context(("mean predictor", "ridge on 1/r", "kernel ridge"))
    page, md = render_html(ctx), render_markdown(ctx)
    assert page.count('<tr class="floor') == 3 and "beside the three floors" in page
    assert "<dt>kernel ridge</dt><dd>what kernel ridge is</dd>" in page
    assert "| ethanol | *kernel ridge* | 5.00 ± 0.10 |" in md
    assert "beside the two floors" in render_html(_context())


def test_markdown_tables_have_as_many_cells_as_headers():
    md = render_markdown(_context())
    assert md.endswith("worse\n") and not md.endswith("\n\n")
    for table in re.findall(r"((?:^\|.*\|\n)+)", md, re.MULTILINE):
        assert len({line.count("|") for line in table.splitlines()}) == 1, table
    assert "## Failed runs" in md and "- ethanol `<b>gcn</b>&x` seed 0: ValueError" in md
    assert "| 1.234 ± 0.010 |" in md and "| 12,609 |" in md


def test_explorer_links_only_when_the_run_has_one(tmp_path):
    analysis = tmp_path / "runs" / "ethanol" / "egnn" / "seed0" / "analysis"
    analysis.mkdir(parents=True)
    png = analysis / "projection_energy.png"
    png.write_bytes(b"\x89PNG fake")
    assert explorer_link(png, tmp_path) is None
    (analysis / "explorer.html").write_text("<html></html>")
    assert explorer_link(png, tmp_path) == "runs/ethanol/egnn/seed0/analysis/explorer.html"
    assert explorer_link(None, tmp_path) is None
    page = render_html(_context())
    assert page.count('href="runs/e/analysis/explorer.html"') == 1
    fig = figure(png, "a map", link=explorer_link(png, tmp_path))
    assert fig is not None and fig.uri.startswith("data:image/png;base64,")
    assert figure(analysis / "missing.png", "gone") is None
    assert grid([fig, None], "cols", 3).figures == [fig]


@pytest.mark.parametrize(("n", "words"), [(1, "the floor"), (2, "the two floors"),
                                          (3, "the three floors"), (12, "the 12 floors")])
def test_floors_words(n, words):
    assert floors_words(n) == words
