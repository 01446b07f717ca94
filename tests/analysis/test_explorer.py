"""The explorer: its chemiscope input, and its page in a real headless Chromium."""

from __future__ import annotations

import gzip
import json
import sys

import numpy as np
import pytest

from equilens.analysis import analyze_run, extract_latents
from equilens.analysis.explorer import DATA_FILE, INSTALL, PAGE_FILE, arrow_scale, write_explorer
from equilens.cli.main import main
from equilens.errors import DataError, MissingDependencyError
from equilens.training import load_config, train
from tests.browser import DevToolsPage

N_TEST = 60
MAP = "trained latent PCA"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, rmd17_dir):
    """A tiny egnn trained on ethanol energies and forces (for the per-atom forces)."""
    config = load_config(overrides={
        "model": "egnn:channels=8,layers=2", "data.data_dir": str(rmd17_dir),
        "data.n_train": 30, "data.n_val": 10, "data.n_test": N_TEST, "training.epochs": 2,
        "training.dtype": "float64", "training.forces": True})
    run_dir = tmp_path_factory.mktemp("run") / "ethanol-egnn"
    train(config, run_dir, progress=False)
    return run_dir


@pytest.fixture(scope="module")
def analysed(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis")
    analyze_run(tiny_run, method="pca", out=out)
    return out


def load_input(out) -> dict:
    return json.loads(gzip.decompress((out / DATA_FILE).read_bytes()))


def test_the_input_holds_every_frame_with_its_properties(tiny_run, analysed):
    data = load_input(analysed)
    lat = extract_latents(tiny_run, "test")
    saved = np.load(analysed / "latents.npz")
    positions = lat.frames.positions_3d()
    assert len(data["structures"]) == N_TEST
    for i in (0, 17, N_TEST - 1):
        s = data["structures"][i]
        assert s["names"] == ["C", "C", "O", "H", "H", "H", "H", "H", "H"]
        np.testing.assert_array_equal(np.column_stack([s["x"], s["y"], s["z"]]), positions[i])
    props = {k: np.array(v["values"]) for k, v in data["properties"].items()}
    assert all(v["target"] == "structure" for k, v in data["properties"].items() if "|" not in k
               and k not in ("atomic energy", "force error"))
    variables = [str(n) for n in saved["target_names"]]  # ethanol's invariant targets
    assert len(variables) == 16 and "C1-C0-O2" in variables
    expected = {"frame id", "energy", "predicted energy", "energy error", *variables,
                *(f"{c} latent PCA[{k}]" for c in ("trained", "random", "geometry") for k in (1, 2)),
                "atomic energy", "predicted |force|", "true |force|", "force error"}
    assert set(props) == expected
    np.testing.assert_array_equal(props["frame id"], saved["frame_ids"])
    for c, key in (("trained", "coords2d"), ("random", "coords2d_random"),
                   ("geometry", "coords2d_geometry")):
        np.testing.assert_array_equal(props[f"{c} latent PCA[1]"], saved[key][:, 0])
        np.testing.assert_array_equal(props[f"{c} latent PCA[2]"], saved[key][:, 1])
    e_min = saved["energy"].min()
    np.testing.assert_allclose(props["energy"], saved["energy"] - e_min, atol=1e-9)
    np.testing.assert_allclose(props["predicted energy"], saved["predicted_energy"] - e_min, atol=1e-9)
    np.testing.assert_allclose(props["energy error"], saved["predicted_energy"] - saved["energy"],
                               atol=1e-9)
    np.testing.assert_array_equal(props["C1-C0-O2"], saved["target_values"][:, variables.index("C1-C0-O2")])
    assert data["properties"]["energy"]["units"] == "kcal/mol"
    assert data["properties"]["C1-C0-O2"]["units"] == "deg"
    assert data["settings"]["map"]["x"]["property"] == f"{MAP}[1]"
    assert data["settings"]["map"]["y"]["property"] == f"{MAP}[2]"
    assert data["settings"]["map"]["color"]["property"] == "energy"


def test_per_atom_energies_add_up_to_the_predicted_energy(tiny_run, analysed):
    data = load_input(analysed)
    lat = extract_latents(tiny_run, "test")
    atomic = np.array(data["properties"]["atomic energy"]["values"]).reshape(N_TEST, 9)
    assert data["properties"]["atomic energy"]["target"] == "atom"
    assert len(data["environments"]) == N_TEST * 9
    # element means were subtracted: frame sums differ from the predictions by one constant
    offset = lat.predicted_energy - atomic.sum(axis=1)
    np.testing.assert_allclose(offset, offset[0], atol=1e-6)
    forces = lat.predicted_forces.reshape(N_TEST, 9, 3)
    np.testing.assert_allclose(data["properties"]["predicted |force|"]["values"],
                               np.linalg.norm(forces, axis=-1).reshape(-1), atol=1e-9)
    true = lat.frames.forces.reshape(N_TEST, 9, 3)
    np.testing.assert_allclose(data["properties"]["force error"]["values"],
                               np.linalg.norm(forces - true, axis=-1).reshape(-1), atol=1e-9)
    (name,) = [k for k in data["shapes"] if k.startswith("predicted force")]
    scale = float(name.split("(")[1].split()[0])
    arrows = data["shapes"][name]["parameters"]["atom"]  # one per atom, frame after frame
    assert len(arrows) == N_TEST * 9
    np.testing.assert_allclose([a["vector"] for a in arrows[5 * 9: 6 * 9]], forces[5] * scale,
                               atol=1e-4)


def test_write_explorer_stores_plain_arrays_and_checks_them(tmp_path, rmd17_dir):
    raw = np.load(rmd17_dir / "rmd17_ethanol_test_01.npz")
    positions, numbers = raw["coords"][:4], raw["nuclear_charges"]
    props = {"map": np.arange(8.0).reshape(4, 2), "energy": raw["energies"][:4]}
    files = write_explorer(tmp_path, positions, numbers, [3, 1, 4, 1], props,
                           {"charge": np.ones((4, 9))}, units={"energy": "kcal/mol"})
    data = json.loads(gzip.decompress(files.data.read_bytes()))
    assert files.page.name == PAGE_FILE and len(data["structures"]) == 4
    assert set(data["properties"]) == {"frame id", "map[1]", "map[2]", "energy", "charge"}
    assert data["properties"]["frame id"]["values"] == [3, 1, 4, 1]
    assert data["properties"]["energy"]["values"] == raw["energies"][:4].tolist()
    assert data["settings"]["map"]["color"]["property"] == "energy"
    bad = [({"map": np.zeros((3, 2))}, "property 'map' has shape (3, 2)"),
           ({"map": np.zeros((4, 3))}, "needs a (n_frames, 2) property"),
           ({"map": np.full((4, 2), np.nan)}, "'map' holds NaN")]
    for properties, message in bad:
        with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
            write_explorer(tmp_path, positions, numbers, np.arange(4), properties)
    with pytest.raises(DataError, match="3 atomic numbers for 9 atoms"):
        write_explorer(tmp_path, positions, numbers[:3], np.arange(4), props)


def test_arrow_scale_is_round():
    assert arrow_scale(np.array([0.0, 40.0, 45.0])) == 0.02
    assert arrow_scale(np.array([0.3])) == 2.0


def test_analyze_without_chemiscope_skips_the_explorer_with_one_line(tiny_run, tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setitem(sys.modules, "chemiscope", None)  # import chemiscope → ImportError
    with pytest.raises(MissingDependencyError, match=INSTALL.replace("[", r"\[").replace("]", r"\]")):
        write_explorer(tmp_path, np.zeros((1, 1, 3)), [1], [0], {"m": np.zeros((1, 2))})
    out = tmp_path / "a"
    assert main(["analyze", str(tiny_run), "--method", "pca", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.err.strip().splitlines() == [f"explorer skipped: the explorer needs chemiscope: {INSTALL}"]
    assert "explorer: file:" not in printed.out
    assert (out / "latent_scores.csv").is_file() and not (out / PAGE_FILE).exists()


def test_analyze_prints_the_explorer_and_no_explorer_skips_it(tiny_run, tmp_path, capsys):
    out = tmp_path / "with"
    assert main(["analyze", str(tiny_run), "--method", "pca", "--out", str(out)]) == 0
    assert f"explorer: {(out / PAGE_FILE).resolve().as_uri()}" in capsys.readouterr().out.splitlines()
    out = tmp_path / "a"
    assert main(["analyze", str(tiny_run), "--method", "pca", "--out", str(out), "--no-explorer"]) == 0
    assert "explorer: file:" not in capsys.readouterr().out
    assert (out / "latent_scores.csv").is_file()
    assert not (out / PAGE_FILE).exists() and not (out / DATA_FILE).exists()


POINT = """(async () => {
  const v = await window.explorer.ready, plot = v.map._plot, layout = plot._fullLayout;
  const box = plot.getBoundingClientRect(), trace = plot.data[0];
  return {n: trace.x.length, x: Array.from(trace.x), y: Array.from(trace.y),
          px: box.left + layout._size.l + layout.xaxis.l2p(trace.x[%d]),
          py: box.top + layout._size.t + layout.yaxis.l2p(trace.y[%d])};
})()"""
SHOWN = """(() => {
  const v = window.explorer.visualizer, cell = v.structure._cellsData.get(v.structure.active);
  return {pinned: v.structure.pinned().map(p => p.structure),
          atoms: cell.viewer._viewer.getModel().selectedAtoms({}).map(a => [a.elem, a.x, a.y, a.z])};
})()"""


def test_the_page_shows_the_map_and_the_selected_frame_offline(tiny_run, analysed, chromium):
    positions = extract_latents(tiny_run, "test").frames.positions_3d()
    coords = np.load(analysed / "latents.npz")["coords2d"]
    target = 23
    with DevToolsPage(chromium) as page:
        page.open(analysed / PAGE_FILE)
        point = page.evaluate(POINT % (target, target))
        assert point["n"] == N_TEST
        np.testing.assert_allclose(np.column_stack([point["x"], point["y"]]), coords)
        assert page.evaluate(SHOWN)["pinned"] == [0]  # the first frame before any click
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            page.call("Input.dispatchMouseEvent", session=True, type=kind, x=point["px"],
                      y=point["py"], button="left", clickCount=1)
        page.wait(1.0)
        shown = page.evaluate(SHOWN)
        assert shown["pinned"] == [target]
        assert [a[0] for a in shown["atoms"]] == ["C", "C", "O"] + ["H"] * 6
        np.testing.assert_allclose([a[1:] for a in shown["atoms"]], positions[target], atol=1e-9)
        assert page.errors() == []
        assert page.outside_requests() == []
        assert page.requests == [(analysed / PAGE_FILE).resolve().as_uri()]


def test_the_devtools_page_records_errors_and_outside_requests(tmp_path, chromium):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="http://192.0.2.1/x.png">'
                   '<script>console.error("boom"); null.x;</script></body></html>')
    with DevToolsPage(chromium, timeout=30) as page:
        page.open(bad)
        assert page.outside_requests() == ["http://192.0.2.1/x.png"]
        errors = page.errors()
        assert "boom" in errors and any("TypeError" in e for e in errors)


def test_periodic_frames_are_explored_with_their_cells(emt_file, tmp_path):
    """Structure-level frames (periodic CuAu): one structure per frame with its cell,
    per-atom values over every atom, the unit cell drawn, the map coloured by the energy
    beyond the per-element reference."""
    run = tmp_path / "emt-gcn"
    assert main(["train", "--file", str(emt_file), "--model", "gcn:channels=8", "--forces",
                 "--set", "data.n_train=10", "data.n_val=4", "data.n_test=10",
                 "training.epochs=1", "training.batch_size=5", "data.cutoff=4.5",
                 "--out", str(run), "--quiet"]) == 0
    out = tmp_path / "analysis"
    analyze_run(run, method="pca", out=out)
    data = load_input(out)
    lat = extract_latents(run, "test")
    assert lat.frames.cell is not None and len(data["structures"]) == 10
    for i in (0, 9):
        s = data["structures"][i]
        np.testing.assert_allclose(np.reshape(s["cell"], (3, 3)), lat.frames.cell[i], atol=1e-9)
        first = lat.frames.offsets[i]
        np.testing.assert_allclose(s["x"], lat.frames.positions[first:first + len(s["x"]), 0])
    n_total = int(lat.frames.n_atoms.sum())
    assert len(data["properties"]["force error"]["values"]) == n_total
    assert data["properties"]["force error"]["target"] == "atom"
    assert len(data["environments"]) == n_total
    assert data["settings"]["structure"][0]["unitCell"] is True
    assert data["settings"]["map"]["color"]["property"] == "energy_residual"
    assert "energy_residual" in data["properties"] and "volume_per_atom" in data["properties"]
    assert (out / PAGE_FILE).is_file()
