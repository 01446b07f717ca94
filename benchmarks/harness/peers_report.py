"""The markdown report of ``peers.py``, rendered from its JSON record alone."""

from __future__ import annotations

from typing import Any

from harness import compile_report
from harness.output import code_block, machine_section, number, ratio, table
from harness.variants import REFERENCES

Report = dict[str, Any]


def render(report: Report) -> str:
    sections = [_header(report), _machine(report), _software(report), _protocol(report),
                _training(report), _inference(report), _memory(report), _budget(report),
                compile_report.render(report), _graphs(report), _modes(report), _configs(report),
                _failures(report)]
    return "\n\n".join(s for s in sections if s) + "\n"


def _names(report: Report) -> list[str]:
    return list(report["variants"])


def _references(report: Report) -> list[str]:
    """The equilens variants run (eager, compiled), each divided by every peer."""
    return [n for n in _names(report) if n in REFERENCES]


def _peers(report: Report) -> list[str]:
    """Variants to divide equilens by (none when no equilens variant was run)."""
    names = _names(report)
    return [n for n in names if n not in REFERENCES] if _references(report) else []


def _pairs(report: Report) -> list[tuple[str, str]]:
    """(equilens variant, peer) of every ratio column: eager ÷ each peer, then compiled ÷ each."""
    return [(ref, peer) for ref in _references(report) for peer in _peers(report)]


def _label(report: Report, name: str) -> str:
    return report["variants"][name]["label"]


def _result(report: Report, name: str, key: str) -> dict[str, Any] | None:
    found = report["results"].get(name, {}).get(key)
    return found if found and "error" not in found else None


def _get(report: Report, name: str, key: str, field: str) -> float | None:
    found = _result(report, name, key)
    if found is None:
        return None
    if field in ("peak_rss_mib", "peak_cuda_mib"):
        return found.get(field)
    return found["result"].get(field)


def _measurements(report: Report, task: str) -> list[dict[str, Any]]:
    return [m for m in report["measurements"] if m["task"] == task]


def _comparison(report: Report, rows: list[tuple[str, str, str]], field: str, unit: str,
                digits: int = 3) -> str:
    """Rows (first cells, measurement key) × variants, then each equilens variant ÷ each peer."""
    names, pairs = _names(report), _pairs(report)
    headers = ["measurement", "labels"] + [f"{_label(report, n)} ({unit})" for n in names]
    headers += [f"{ref} ÷ {peer}" for ref, peer in pairs]
    body = []
    for first, second, key in rows:
        values = {n: _get(report, n, key, field) for n in names}
        body.append([first, second] + [number(values[n], digits) for n in names]
                    + [ratio(values[ref], values[peer]) for ref, peer in pairs])
    return table(headers, body)


def _header(report: Report) -> str:
    m = report["machine"]
    quick = " (quick smoke run: tiny sizes, numbers not meaningful)" if report["settings"]["quick"] else ""
    return "\n".join([
        f"# equilens vs nequip vs MACE on {m['hostname']}{quick}", "",
        f"Run {report['started']} → {report['finished']}, equilens commit `{m['equilens_commit']}`.",
        ("All numbers below come from this one run, every code on the same machine, one worker "
         "process per code and measurement."), "",
        "Command:", "", f"```\n{report['command']}\n```",
    ])


def _machine(report: Report) -> str:
    return machine_section(report["machine"], report["load_average_at_end"])


def _software(report: Report) -> str:
    envs = report["software"]
    keys = ["python", "torch", "e3nn", "numpy", "ase", "package", "default_threads"]
    rows = [[k if k != "package" else "package version"] + [str((envs[c] or {}).get(k, "—")) for c in envs]
            for k in keys]
    paths = [f"- {code}: `{report['pythons'][code]}`" for code in envs]
    return "## Software (one environment per code)\n\n" + table([""] + list(envs), rows) + \
        "\n\n" + "\n".join(paths)


def _protocol(report: Report) -> str:
    s = report["settings"]
    lines = [
        "## Protocol",
        "",
        (f"- threads per worker: {s['threads']} (`torch.set_num_threads`, OMP/MKL_NUM_THREADS); "
         f"device: {s['device']}; float32 models; seed {s['seed']}."),
        (f"- training: the first {s['n_train']} frames of `rmd17_<molecule>_train_01`, batch "
         f"{s['batch_size']}, Adam (fused for equilens, as its trainer; plain `torch.optim.Adam` for the peers), {s['warmup']} warm-up epoch then the median of {s['epochs']} "
         "timed epochs; an epoch covers batching, forward, loss, backward and the optimiser step "
         "(neighbour lists are built once, at load, by every code)."),
        (f"- inference: the first {s['n_test']} frames of "
         f"`rmd17_{s['inference_molecule']}_test_01`, batch {s['eval_batch_size']}, eval mode, "
         f"batching included; {s['warmup']} warm-up pass then the median of {s['passes']} passes. "
         "E: `torch.no_grad()`, no force derivative; E+F: forces by autograd. Weights untrained."),
        "- peak memory: `ru_maxrss` of the worker process (data, graphs, model and the measurement)"
        + ("; on the GPU, `torch.cuda.max_memory_allocated` of the worker." if s["device"] == "cuda"
           else "."),
    ]
    if "equilens-compiled" in report["variants"]:
        lines.append(
            "- equilens egnn (compiled): the same model, batches, loss and optimiser, through "
            "`CompiledEGNN` (make_fx + `torch.compile(dynamic=True)`): a training step's forward "
            "pass, loss and backward as one graph (`CompiledEGNN.train_step`), inference's energy "
            "and forces as another, as the trainer with `training.compile: true` and "
            "`predict(compiled=...)`; its warm-up "
            "epoch or pass includes compiling (section 5). Ratio columns divide eager and "
            "compiled equilens alike by each peer.")
    if s["device"] == "cuda":
        lines.insert(3, "- CUDA: every clock is read after `torch.cuda.synchronize()`.")
    if not s["skip_budget"] and "budget" in s.get("tasks", ("budget",)):
        lines.append(
            f"- equal budget: each code trains on energies and forces of the first {s['n_train']} "
            f"`{s['budget_molecule']}` train frames for {s['budget_s']:.0f} s of training steps "
            "(the clock is read after every step; the last step may overrun), Adam (as above) at the "
            "code's learning rate, no scheduler or EMA, then MAE on the first "
            f"{s['n_test']} test frames.")
    return "\n".join(lines)


def _training(report: Report) -> str:
    rows = [(m["molecule"], "E+F" if m["forces"] else "E", m["key"])
            for m in _measurements(report, "train")]
    if not rows:
        return ""
    n = report["settings"]["n_train"]
    return (f"## 1. Training: seconds per epoch ({n} frames, batch {report['settings']['batch_size']})\n\n"
            "Ratio = equilens s/epoch ÷ peer s/epoch: **below 1× equilens is faster**, above 1× "
            "the peer is.\n\n" + _comparison(report, rows, "median_epoch_s", "s/epoch"))


def _inference(report: Report) -> str:
    rows = [(m["molecule"], "E+F" if m["forces"] else "E", m["key"])
            for m in _measurements(report, "infer")]
    if not rows:
        return ""
    return ("## 2. Inference: frames per second "
            f"(batch {report['settings']['eval_batch_size']})\n\n"
            "Ratio = equilens frames/s ÷ peer frames/s: **above 1× equilens is faster**.\n\n"
            + _comparison(report, rows, "frames_per_s", "frames/s"))


def _memory(report: Report) -> str:
    rows = [(m["task"], f"{m['molecule']} {'E+F' if m['forces'] else 'E'}", m["key"])
            for m in report["measurements"]]
    text = ("## 3. Peak memory of each worker process (MiB)\n\n"
            "Ratio = equilens MiB ÷ peer MiB: **below 1× equilens needs less memory**.\n\n"
            + _comparison(report, rows, "peak_rss_mib", "MiB", digits=4))
    if report["settings"]["device"] != "cuda":
        return text
    return (text + "\n\nOn the GPU (`torch.cuda.max_memory_allocated` of each worker):\n\n"
            + _comparison(report, rows, "peak_cuda_mib", "MiB", digits=4))


def _budget(report: Report) -> str:
    found = _measurements(report, "budget")
    if not found:
        return "## 4. Equal wall-clock budget\n\nNot run in this invocation (`--skip-budget` or `--tasks`)."
    key, names, pairs = found[0]["key"], _names(report), _pairs(report)
    fields = [("test energy MAE (kcal/mol)", "energy_mae_kcal", True),
              ("test force MAE (kcal/mol/Å)", "force_mae_kcal", True),
              ("training steps", "steps", False), ("epochs", "epochs", False),
              ("training seconds", "train_s", False)]
    headers = ["", *[_label(report, n) for n in names],
               *[f"{ref} ÷ {peer}" for ref, peer in pairs]]
    body = []
    for title, field, compare in fields:
        values = {n: _get(report, n, key, field) for n in names}
        body.append([title, *[number(values[n], 4) for n in names],
                     *[ratio(values[ref], values[peer]) if compare else "" for ref, peer in pairs]])
    body.append(["learning rate", *[f"{report['variants'][n]['lr']:g}" for n in names],
                 *["" for _ in pairs]])
    s = report["settings"]
    return (f"## 4. Equal wall-clock budget: {s['budget_s'] / 60:g} min on {s['budget_molecule']} (E+F)\n\n"
            "Ratio = equilens MAE ÷ peer MAE: **below 1× equilens is more accurate** after the "
            "same training time.\n\n" + table(headers, body))


def _graphs(report: Report) -> str:
    """Edges per frame each code built (they should agree: same cutoff, same frames)."""
    names = _names(report)
    rows, seen = [], set()
    for m in report["measurements"]:
        if m["task"] == "budget" or (m["task"], m["molecule"]) in seen:
            continue
        seen.add((m["task"], m["molecule"]))
        values = [_first(report, n, "edges_per_frame", m["task"], m["molecule"]) for n in names]
        rows.append([m["task"], m["molecule"]] + [number(v, 5) for v in values])
    params = [["parameters", ""] + [str(_first(report, n, "n_parameters") or "—") for n in names]]
    return ("## Graph and size check\n\nDirected edges per frame within the cutoff as each code "
            "built them, and trainable parameters (energy-only and force models share them).\n\n"
            + table(["task", "molecule", *[_label(report, n) for n in names]], rows + params))


def _first(report: Report, name: str, field: str, task: str | None = None,
           molecule: str | None = None) -> Any:
    """``field`` of the first successful result of ``name`` (of that task and molecule)."""
    for m in report["measurements"]:
        if (task and m["task"] != task) or (molecule and m["molecule"] != molecule):
            continue
        value = _get(report, name, m["key"], field)
        if value is not None:
            return value
    return None


def _modes(report: Report) -> str:
    rows = []
    for name in _names(report):
        modes = {r.get("energy_only_mode") for r in report["results"].get(name, {}).values()
                 if "error" not in r}
        rows.append([_label(report, name), "; ".join(sorted(m for m in modes if m)) or "—"])
    return "## Energy-only mode used by each code\n\n" + table(["code", "how E is evaluated without forces"], rows)


def _configs(report: Report) -> str:
    """Settings of each model as its code names them; derived statistics (normalisation,
    neighbour counts) are those of the equal-budget run, else of the first measurement."""
    order = sorted(report["measurements"], key=lambda m: m["task"] != "budget")
    parts = ["## Exact configurations",
             "Derived values (data statistics) are those of the measurement named in each heading."]
    for name in _names(report):
        found = next(((m["key"], _result(report, name, m["key"])) for m in order
                      if _result(report, name, m["key"])), (None, None))
        key, result = found
        hyper = result["hyperparameters"] if result else report["variants"][name]["model"]
        parts.append(f"### {_label(report, name)} (lr {report['variants'][name]['lr']:g}; "
                     f"statistics of {key or 'no successful measurement'})\n\n" + code_block(hyper))
    return "\n\n".join(parts)


def _failures(report: Report) -> str:
    rows = [[name, key, result["error"], f"`{result.get('log', '')}`"]
            for name, results in report["results"].items()
            for key, result in results.items() if "error" in result]
    return "## Failures\n\n" + table(["code", "measurement", "error", "log"], rows) if rows else ""
