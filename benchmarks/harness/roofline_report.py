"""The markdown report of ``roofline.py``, rendered from its JSON record alone."""

from __future__ import annotations

from typing import Any

from harness.flops import CATEGORIES, MATMUL
from harness.output import code_block, machine_section, number, table
from harness.step import PHASES
from harness.variants import EQUILENS_SPEC

Report = dict[str, Any]
ms = 1e3  # seconds → milliseconds


def render(report: Report) -> str:
    sections = [_header(report), _load_note(report), machine_section(report["machine"],
                report["load_average_at_end"]), _software(report), _peaks(report),
                _roofline(report), _reading(report), _flops(report), _phases(report),
                _time(report), _top_ops(report), _unclassified(report), _settings(report)]
    return "\n\n".join(s for s in sections if s) + "\n"


def _name(case: dict) -> str:
    return f"{case['molecule']} {'E+F' if case['labels'] == 'EF' else 'E'}"


def _pct(part: float, whole: float) -> str:
    if not whole:
        return "—"
    share = 100 * part / whole
    return f"{share:.1f} %" if share < 10 else f"{share:.0f} %"


def _header(report: Report) -> str:
    m, s = report["machine"], report["settings"]
    matched = " (the matched size of `peers.py`)" if s["model"] == EQUILENS_SPEC else ""
    return "\n".join([
        f"# Roofline of an equilens training step on {m['hostname']}", "",
        (f"Run {report['started']} → {report['finished']}, equilens commit "
         f"`{m['equilens_commit']}`, device {s['device']}, {s['threads']} thread(s)."),
        (f"Model `{s['model']}`{matched}, its training step as "
         f"`peers.py` times it (batch 10, fused Adam), {s['steps']} steps per row after a "
         "warm-up pass over the same batches."
         + (" The step is the compiled one (`training.compile`, the `equilens-compiled` "
            "variant): timed and profiled compiled, its operations counted on the same step "
            "run eagerly (compiling fuses operators, not arithmetic); the profile's operators "
            "are then TorchInductor's kernels and the calls they still dispatch."
            if s.get("compiled") else "")), "",
        "Command:", "", f"```\n{report['command']}\n```",
    ])


def _load_note(report: Report) -> str:
    m = report["machine"]
    cpus = m["usable_cpus"]
    busy = [when for when, load in (("start", m["load_average_at_start"][0]),
                                    ("end", report["load_average_at_end"][0])) if load > cpus]
    notes = []
    if busy:
        spread = ", ".join(f"{_name(c)} {c['median_step_s'] / min(c['step_s']):.1f}×"
                           for c in report["cases"])
        notes.append(
            f"**Loaded machine**: the 1-minute load average exceeded the {cpus} usable CPUs at "
            f"the {' and the '.join(busy)} of the run, so other processes competed for the "
            "cores; times (and the peak rates) are those of a shared machine, not of a quiet "
            f"one. Median step ÷ fastest step: {spread}.")
    slower = [c for c in report["cases"] if c["median_step_s"] > c["profile"]["wall_s_per_step"]]
    if slower:
        cases = ", ".join(f"{_name(c)} ({c['median_step_s'] * ms:.1f} ms against "
                          f"{c['profile']['wall_s_per_step'] * ms:.1f} ms)" for c in slower)
        notes.append(
            "**Timed pass slower than the profiled pass** (which carries the profiler's own "
            f"overhead, so it should be the slower one): {cases}. Their median step time "
            "overstates what the step costs; the likely cause is other work on the cores "
            "during the timed steps (see the load average).")
    return "\n\n".join(notes)


def _software(report: Report) -> str:
    sw = report.get("software") or {}
    keys = ["python", "torch", "e3nn", "numpy", "package"]
    return "## Software\n\n" + table(["", "version"], [[k if k != "package" else "equilens",
                                                        str(sw.get(k, "—"))] for k in keys])


def _peak_cells(p: dict) -> list[list[str]]:
    mm, bw, cache, floor = p["matmul"], p["bandwidth"], p["bandwidth_in_cache"], p["op_floor"]

    def rate(d: dict, unit: str, scale: float = 1e9) -> str:
        return f"{d[f'best_{unit}'] / scale:.3g} ({d[f'median_{unit}'] / scale:.3g})"

    return [
        [f"`torch.mm` {mm['n']}×{mm['n']} float32, GFLOP/s", rate(mm, "flops_per_s")],
        [f"copy of {bw['mib']:g} MiB, GB/s (read + write)", rate(bw["copy"], "bytes_per_s")],
        [f"add of {bw['mib']:g} MiB tensors, GB/s (2 reads + 1 write)", rate(bw["add"], "bytes_per_s")],
        [f"copy of {cache['mib']:g} MiB (in cache), GB/s", rate(cache["copy"], "bytes_per_s")],
        [f"add of {cache['mib']:g} MiB tensors (in cache), GB/s", rate(cache["add"], "bytes_per_s")],
        ["one tiny `torch.add` call (1 element), µs", f"{floor['add_s'] * 1e6:.2f}"],
        ["one `view` call, µs", f"{floor['view_s'] * 1e6:.2f}"],
    ]


def _peaks(report: Report) -> str:
    start, *rest = report["peaks"]
    cells = [_peak_cells(p) for p in report["peaks"]]
    headers = ["measurement", "start of run: best (median)"] + (
        ["end of run: best (median)"] if rest else [])
    rows = [[row[0]] + [c[i][1] for c in cells] for i, row in enumerate(cells[0])]
    cap = report["capability"]
    return ("## What the machine can do (same threads, same device)\n\n"
            f"Matmul and bandwidths measured {len(start['matmul']['times_s'])} times each after a "
            f"warm-up (the tiny calls: the best of loops of {start['op_floor']['calls']} calls), "
            "at the start and at the end of the run; the best repeat of either is used below: "
            f"**{cap['flops_per_s'] / 1e9:.3g} GFLOP/s** (matmul peak), "
            f"**{cap['bytes_per_s'] / 1e9:.3g} GB/s** (memory bandwidth, large tensors), "
            f"{cap['bytes_per_s_in_cache'] / 1e9:.3g} GB/s in cache.\n\n" + table(headers, rows))


def _roofline(report: Report) -> str:
    headers = ["molecule, labels", "edges/frame", "MFLOP/step", "MB/step", "flop/byte",
               "aten calls/step", "measured ms/step (median)", "fastest ms/step",
               "achieved GFLOP/s",
               "% of matmul peak", "ms at peak FLOP/s", "ms at peak bandwidth",
               "(in cache)", "bound ms (by)", "measured ÷ bound"]
    rows = []
    for c in report["cases"]:
        k, r = c["counts"], c["roofline"]
        rows.append([_name(c), number(c["edges_per_frame"]), f"{k['flops_per_step'] / 1e6:.1f}",
                     f"{k['bytes_per_step'] / 1e6:.1f}", number(r["intensity"], 2),
                     f"{k['calls_per_step']:.0f}", f"{c['median_step_s'] * ms:.2f}",
                     f"{min(c['step_s']) * ms:.2f}",
                     number(r["achieved_flops_per_s"] / 1e9),
                     number(100 * r["fraction_of_peak"], 2), f"{r['compute_s'] * ms:.3f}",
                     f"{r['memory_s'] * ms:.3f}", f"{c['memory_s_in_cache'] * ms:.3f}",
                     f"{r['bound_s'] * ms:.3f} ({r['bound_by']})",
                     f"{number(r['measured_over_bound'], 2)}×"])
    ridge = report["cases"][0]["roofline"]["ridge_intensity"] if report["cases"] else None
    return ("## Roofline of one training step\n\n"
            "FLOP and bytes counted operator by operator on the real batches (rules in "
            "`benchmarks/README.md`); \"aten calls\" are the operators dispatched per step, "
            "views included. Bound = max(FLOP ÷ peak FLOP/s, bytes ÷ bandwidth); \"(in cache)\" "
            "is the bytes at the in-cache bandwidth, for comparison (not used in the bound). "
            + (f"Ridge point: {number(ridge)} flop/byte (peak ÷ bandwidth); a step of lower "
               "intensity is memory-bound on this roofline.\n\n" if ridge else "\n\n")
            + table(headers, rows))


def _reading(report: Report) -> str:
    lines = ["## Reading", ""]
    for c in report["cases"]:
        r, p = c["roofline"], c["profile"]
        wall = p["wall_s_per_step"]
        lines.append(
            f"- **{_name(c)}**: {c['counts']['flops_per_step'] / 1e6:.1f} MFLOP in "
            f"{c['median_step_s'] * ms:.2f} ms, {number(100 * r['fraction_of_peak'], 2)} % of "
            f"the matmul peak; at the roofline the step would take {r['bound_s'] * ms:.3f} ms "
            f"({r['bound_by']}-bound), the measured step is {number(r['measured_over_bound'], 2)}× "
            "that. "
            f"Under the profiler, aten operators' self time is "
            f"{_pct(p['self_s_per_step']['aten'], wall)} of the wall time "
            f"({p['aten_s_per_step_at_median'] * ms:.2f} ms with every call at its operator's "
            f"median), the autograd engine's "
            f"{_pct(p['self_s_per_step']['autograd engine'], wall)}, "
            + (f"TorchInductor's compiled kernels "
               f"{_pct(p['self_s_per_step']['compiled kernels'], wall)}, "
               if report["settings"].get("compiled") else "")
            + f"time outside any recorded "
            f"event {_pct(p['outside_events_s_per_step'], wall)}; "
            f"{_pct(p['short_calls_per_step'], p['aten_calls_per_step'])} of operator calls take "
            f"under {p['short_us']:g} µs."
            + ("" if report["settings"].get("compiled") else
               f" {c['counts']['calls_per_step']:.0f} calls at the tiny-operator floor take "
               f"{c['op_floor_s'] * ms:.2f} ms ({_pct(c['op_floor_s'], c['median_step_s'])} of "
               "the measured step).")
            + _matmul_reading(c, report["capability"]["flops_per_s"]))
    return "\n".join(lines)


def _matmul_reading(case: dict, peak: float) -> str:
    """One sentence: the matmuls' FLOP, their self time under the profiler and the rate it
    gives, and what the rest of the profiled step carries."""
    p, flops = case["profile"], case["counts"]["by_category"].get("matmul", {}).get("flops", 0.0)
    matmul_s = p.get("matmul_s_per_step")
    if matmul_s is None:  # records written before the profile kept it: its top operators
        matmul_s = sum(o["self_s_per_step"] for o in p["top_ops"]
                       if o["name"].removeprefix("aten::") in MATMUL)
    if not flops or not matmul_s:
        return ""
    rest = p["wall_s_per_step"] - matmul_s
    other = case["counts"]["flops_per_step"] - flops
    return (f" Its matmuls ({flops / 1e6:.1f} MFLOP, "
            f"{_pct(flops, case['counts']['flops_per_step'])} of the FLOP) take "
            f"{matmul_s * ms:.2f} ms of self time, {number(flops / matmul_s / 1e9)} GFLOP/s "
            f"({_pct(flops / matmul_s, peak)} of the peak); the other {rest * ms:.2f} ms of "
            f"the profiled step carry {other / 1e6:.1f} MFLOP.")


def _case_table(report: Report, first: str, what: str, names, cell) -> str:
    """A table with one row per name and one column per case: ``cell(case, name)``;
    ``what`` says what a cell holds."""
    cases = report["cases"]
    headers = [first] + [f"{_name(c)}: {what}" for c in cases]
    return table(headers, [[name] + [cell(c, name) for c in cases] for name in names])


def _flops(report: Report) -> str:
    def cell(c, cat):
        t, total = c["counts"]["by_category"][cat], c["counts"]["flops_per_step"]
        return (f"{t['flops'] / 1e6:.2f} ({_pct(t['flops'], total)}) · "
                f"{t['bytes'] / 1e6:.2f} · {t['calls']:.0f}")

    return ("## Where the FLOP go, per step (by kind of operator)\n\n"
            + _case_table(report, "category", "MFLOP (share) · MB · calls", CATEGORIES, cell))


def _phases(report: Report) -> str:
    def cell(c, phase):
        t = c["counts"]["by_phase"].get(phase, {"flops": 0, "bytes": 0, "calls": 0})
        return f"{t['flops'] / 1e6:.2f} · {t['bytes'] / 1e6:.2f} · {t['calls']:.0f}"

    return ("## Per phase of the step\n\n\"forward\" includes the force derivative with "
            "forces; \"backward\" is the loss's backward pass (and `zero_grad`).\n\n"
            + _case_table(report, "phase", "MFLOP · MB · calls", PHASES, cell))


def _time(report: Report) -> str:
    cases = report["cases"]
    rows = [
        ("measured step, no profiler (median)", lambda c: c["median_step_s"] * ms),
        ("profiled step (wall inside the profiler)", lambda c: c["profile"]["wall_s_per_step"] * ms),
        ("aten operators (self time)", lambda c: c["profile"]["self_s_per_step"]["aten"] * ms),
        ("aten operators, each call at its operator's median self time",
         lambda c: c["profile"]["aten_s_per_step_at_median"] * ms),
        ("autograd engine (self time)",
         lambda c: c["profile"]["self_s_per_step"]["autograd engine"] * ms),
        ("optimiser wrapper (self time)", lambda c: c["profile"]["self_s_per_step"]["optimiser"] * ms),
        ("TorchInductor's compiled kernels (self time)",
         lambda c: c["profile"]["self_s_per_step"].get("compiled kernels", 0.0) * ms),
        ("other recorded events (self time)",
         lambda c: c["profile"]["self_s_per_step"]["other events"] * ms),
        ("outside any recorded event (Python, loop, profiler)",
         lambda c: c["profile"]["outside_events_s_per_step"] * ms),
        ("operator calls under the short threshold (self time)",
         lambda c: c["profile"]["short_self_s_per_step"] * ms),
        ("dispatched calls × tiny-operator floor"
         + (" (the eager step's calls)" if report["settings"].get("compiled") else ""),
         lambda c: c["op_floor_s"] * ms),
        ("roofline bound", lambda c: c["roofline"]["bound_s"] * ms),
    ]
    body = [[title] + [f"{f(c):.3f}" for c in cases] for title, f in rows]
    body.append(["aten calls per step, profiler (composite ops included)"]
                + [f"{c['profile']['aten_calls_per_step']:.0f}" for c in cases])
    body.append(["of which under the short threshold"]
                + [f"{c['profile']['short_calls_per_step']:.0f} "
                   f"({_pct(c['profile']['short_calls_per_step'], c['profile']['aten_calls_per_step'])})"
                   for c in cases])
    short = cases[0]["profile"]["short_us"] if cases else 10
    return (f"## Where the time goes, ms per step (torch.profiler; short = self time under "
            f"{short:g} µs)\n\nSelf times split the profiled wall time without double "
            "counting. The profiled pass is a separate pass over the same batches and its wall "
            "time includes the profiler's own recording: compare its parts with each other "
            "rather than with the measured step.\n\n" + table(["", *[_name(c) for c in cases]], body))


TOP_OPS_NOTE = (
    "The profiler and the counter name some calls differently: the profiler also records "
    "the operators a kernel calls inside it (`index_add` → `scatter_add_`), and the "
    "autograd engine's gradient sums show as `add_` there and as `add` to the counter.")


def _top_ops(report: Report, top: int = 8) -> str:
    """Per case: the operators with the most self time (profiler) and with the most FLOP
    (dispatch counter)."""
    parts = ["## Top operators", TOP_OPS_NOTE]
    on_gpu = report["settings"]["device"].startswith("cuda")
    for c in report["cases"]:
        p = c["profile"]
        aten = p["self_s_per_step"]["aten"]
        by_time = [[f"`{o['name']}`", f"{o['calls_per_step']:.0f}", f"{o['us_per_call']:.1f}",
                    f"{o['median_us_per_call']:.1f}", f"{o['self_s_per_step'] * ms:.3f}",
                    _pct(o["self_s_per_step"], aten)]
                   + ([f"{o['device_s_per_step'] * ms:.3f}"] if on_gpu else [])
                   for o in p["top_ops"][:top]]
        total = c["counts"]["flops_per_step"]
        by_flop = [[f"`{name}`", o["category"], f"{o['calls']:.0f}", f"{o['flops'] / 1e6:.2f}",
                    _pct(o["flops"], total), f"{o['bytes'] / 1e6:.2f}"]
                   for name, o in list(c["counts"]["by_op"].items())[:top]]
        parts.append(f"### {_name(c)}\n\nBy self time (profiler):\n\n" + table(
            ["operator", "calls/step", "mean µs/call", "median µs/call", "ms/step",
             "share of aten self time"] + (["GPU kernel ms/step"] if on_gpu else []), by_time)
            + "\n\nBy FLOP (counter):\n\n" + table(
            ["operator", "category", "calls/step", "MFLOP/step", "share of FLOP", "MB/step"],
            by_flop))
    return "\n\n".join(parts)


def _unclassified(report: Report) -> str:
    names = sorted({n for c in report["cases"] for n in c["counts"]["unclassified"]})
    if not names:
        return ""
    return ("## Operators without a counting rule (0 FLOP, bytes counted)\n\n"
            + ", ".join(f"`{n}`" for n in names))


def _settings(report: Report) -> str:
    job = report["cases"][0]["job"] if report["cases"] else {}
    return "## Settings\n\n" + code_block({"settings": report["settings"], "job": job})
