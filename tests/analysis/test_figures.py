"""Figures render to valid PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from equilens.analysis.figures import plot_histograms, plot_projection, plot_projection_grid

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path) -> np.ndarray:
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]  # no leftovers
    assert path.stat().st_mode & 0o044 == 0o044  # readable by others
    return image


@pytest.fixture
def case() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 300
    angle = rng.uniform(-np.pi, np.pi, n)
    coords = np.column_stack([np.cos(angle), np.sin(angle)]) * rng.uniform(5, 10, (n, 1))
    return {
        "coords": coords,
        "bond": 1.43 + 0.03 * np.cos(angle) + 0.005 * rng.normal(size=n),
        "dihedral": np.degrees(angle),
        "angle": 109.0 + 4.0 * np.sin(angle),
    }


def test_plot_projection(tmp_path, case):
    out = plot_projection(
        case["coords"], case["bond"], title="ethanol t-SNE", label="C0-O2 (Å)",
        out_path=tmp_path / "projection.png",
    )
    assert out == tmp_path / "projection.png"
    _assert_png(out)
    circular = plot_projection(
        case["coords"], case["dihedral"], title="ethanol t-SNE",
        label="H3-C0-O2-H8 (deg)", out_path=tmp_path / "sub" / "dihedral.png", circular=True,
    )
    _assert_png(circular)


def test_plot_projection_overwrites_atomically(tmp_path, case):
    out = tmp_path / "p.png"
    out.write_bytes(b"old")
    plot_projection(case["coords"], case["bond"], title="t", label="x (Å)", out_path=out)
    _assert_png(out)


def test_plot_projection_grid(tmp_path, case):
    colourings = {
        "C0-O2": (case["bond"], "C0-O2 (Å)", False),
        "C1-C0-O2": (case["angle"], "C1-C0-O2 (deg)", False),
        "H3-C0-O2-H8": (case["dihedral"], "H3-C0-O2-H8 (deg)", True),
        "energy": (case["bond"] ** 2, "energy (kcal/mol)", False),
    }
    out = plot_projection_grid(
        case["coords"], colourings, title="ethanol latent, t-SNE", out_path=tmp_path / "grid.png"
    )
    image = _assert_png(out)
    assert image.shape[1] > image.shape[0]  # 3 columns x 2 rows is wider than tall


def test_plot_histograms(tmp_path):
    rng = np.random.default_rng(0)
    out = plot_histograms(
        rng.normal(1.43, 0.03, 900), rng.normal(1.45, 0.03, 100),
        name="C0-O2", unit="Å", out_path=tmp_path / "hist.png",
    )
    _assert_png(out)


def test_bad_inputs(tmp_path, case):
    with pytest.raises(ValueError, match=r"shape \(300,\) to match coords2d, got \(299,\)"):
        plot_projection(case["coords"], case["bond"][:-1], title="t", label="C0-O2 (Å)",
                        out_path=tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"coords2d must have shape \(n, 2\)"):
        plot_projection(case["coords"][:, :1], case["bond"], title="t", label="l",
                        out_path=tmp_path / "x.png")
    with pytest.raises(ValueError, match="values, label, circular"):
        plot_projection_grid(case["coords"], {"a": case["bond"]}, title="t",
                             out_path=tmp_path / "x.png")
    with pytest.raises(ValueError, match="validation values of 'C0-O2' must be a non-empty"):
        plot_histograms(np.ones(3), np.array([]), name="C0-O2", unit="Å",
                        out_path=tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_the_axes_box_maps_every_point_onto_its_pixel(tmp_path):
    """The box written beside a projection (what a page maps the cursor with) puts each
    point of the data on a coloured pixel of the saved image."""
    import json

    rng = np.random.default_rng(1)
    coords, values = rng.normal(size=(40, 2)), rng.normal(size=40)
    plot_projection(coords, values, title="t", label="E (kcal/mol)",
                    out_path=tmp_path / "p.png", box_path=tmp_path / "p.box.json")
    box = json.loads((tmp_path / "p.box.json").read_text())
    image = imread(tmp_path / "p.png")[..., :3]
    height, width = image.shape[:2]
    left, top, right, bottom = box["axes"]
    (x0, x1), (y0, y1) = box["xlim"], box["ylim"]
    px = (left + (coords[:, 0] - x0) / (x1 - x0) * (right - left)) * width
    py = (top + (y1 - coords[:, 1]) / (y1 - y0) * (bottom - top)) * height
    pixels = image[np.round(py).astype(int), np.round(px).astype(int)]
    assert (np.abs(pixels - 1.0).sum(axis=1) > 0.2).all()  # no point lands on white
    assert (np.abs(image[int(top * height) - 3, :] - 1.0).sum(axis=1) < 0.05).mean() > 0.5
