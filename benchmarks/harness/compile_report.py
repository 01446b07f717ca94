"""The compile-time section of the peers report: what the compiled equilens variant paid
before its timed epochs and passes, and whether TorchInductor's cache was warm.

Every worker runs one untimed warm-up epoch (training) or pass (inference) before the
timed ones; for ``equilens-compiled`` that warm-up also traces and compiles its graphs.
This section shows it next to the eager variant's warm-up, the time saved per timed
epoch or pass, and how many of them repay the compile.
"""

from __future__ import annotations

from typing import Any

from harness.output import number, table

COMPILED = "equilens-compiled"
EAGER = "equilens"
#: Per task: the median timed field, and what one unit of it is called.
TIMED = {"train": ("median_epoch_s", "epoch"), "infer": ("median_pass_s", "pass")}

HEADERS = ["measurement", "labels", "eager: first {unit}, s", "compile + first {unit}, s",
           "compiled: timed {unit}, s", "compile overhead, s", "saved per {unit}, s",
           "{units} to repay", "graphs", "FX graphs in cache at start", "cache hits / misses"]


def _ok(report: dict[str, Any], name: str, key: str) -> dict[str, Any] | None:
    found = report["results"].get(name, {}).get(key)
    return found if found and "error" not in found else None


def _warmup(result: dict[str, Any] | None) -> float | None:
    return sum(result["result"]["warmup_s"]) if result and result["result"].get("warmup_s") else None


def _timed(result: dict[str, Any] | None, field: str) -> float | None:
    return result["result"].get(field) if result else None


def _cache_cells(info: dict[str, Any] | None) -> list[str]:
    if not info:
        return ["—", "—", "—"]
    ran = f"{info['graphs']}" + (" (eager fallback)" if info["fell_back_to_eager"] else "")
    state = f"{info['fxgraph_entries_at_start']}" + ("" if info["warm_at_start"] else " (empty)")
    return [ran, state, f"{info['fxgraph_cache_hits']} / {info['fxgraph_cache_misses']}"]


def row(report: dict[str, Any], measurement: dict[str, Any]) -> list[str]:
    """One table row: warm-ups, timed medians, overhead (compiled warm-up − its timed
    median), saving (eager − compiled timed median), units to repay, cache state."""
    key, task = measurement["key"], measurement["task"]
    eager, compiled = _ok(report, EAGER, key), _ok(report, COMPILED, key)
    labels = "E+F" if measurement["forces"] else "E"
    info = (compiled or {}).get("compile")
    if task not in TIMED:
        return [f"{task} {measurement['molecule']}", labels, *["—"] * 6, *_cache_cells(info)]
    field = TIMED[task][0]
    warm_c, timed_c, timed_e = _warmup(compiled), _timed(compiled, field), _timed(eager, field)
    overhead = warm_c - timed_c if warm_c is not None and timed_c is not None else None
    saved = timed_e - timed_c if timed_e is not None and timed_c is not None else None
    repay = (f"{overhead / saved:.0f}" if overhead is not None and saved and saved > 0
             else "never" if saved is not None and saved <= 0 else "—")
    return [f"{task} {measurement['molecule']}", labels, number(_warmup(eager)), number(warm_c),
            number(timed_c), number(overhead), number(saved), repay, *_cache_cells(info)]


def _cache_line(report: dict[str, Any]) -> str:
    infos = [r["compile"] for r in report["results"].get(COMPILED, {}).values()
             if "error" not in r and r.get("compile")]
    if not infos:
        return "No compiled measurement succeeded, so the cache state is unknown."
    first = infos[0]
    env = (f"the workers' `TORCHINDUCTOR_CACHE_DIR={first['env']}`" if first["env"]
           else "`TORCHINDUCTOR_CACHE_DIR` unset")
    state = ("**warm**: it held entries" if first["warm_at_start"]
             else "**cold (empty)**: everything compiled from scratch")
    hits = sum(i["fxgraph_cache_hits"] for i in infos)
    misses = sum(i["fxgraph_cache_misses"] for i in infos)
    messages = sorted({m for i in infos for m in i.get("messages", [])})
    return (f"TorchInductor cache: `{first['cache_dir']}` ({env}). When the first compiled "
            f"worker started it held {first['fxgraph_entries_at_start']} FX graphs "
            f"({first['files_at_start']} files), {state} (not necessarily these graphs). Over "
            f"all compiled measurements: {hits} FX-graph cache hits (reused) and {misses} misses "
            "(compiled from scratch; forward and backward graphs count separately). Each "
            "measurement is a new process, so later ones can reuse what earlier ones compiled."
            + ("\n\n" + "\n".join(f"- compiler message: {m}" for m in messages) if messages else ""))


def render(report: dict[str, Any]) -> str:
    """The section, or "" when the compiled variant was not run."""
    if COMPILED not in report["variants"]:
        return ""
    rows = [row(report, m) for m in report["measurements"]]
    headers = [h.format(unit="epoch/pass", units="epochs/passes") for h in HEADERS]
    return ("## 5. Compile time of equilens egnn (compiled)\n\n"
            "The timed numbers above follow one untimed warm-up epoch or pass; for the compiled "
            "variant it includes tracing and compiling its graphs (one per kind of call: "
            "training, energy-only, eval mode), shown here. Overhead = compile + first "
            "epoch/pass − a timed one; saved = eager − compiled timed epoch/pass; to repay = "
            "overhead ÷ saved. The equal-budget run has no warm-up: the compiled variant's "
            "budget includes compiling its training graph (its eval graph is compiled after "
            "the budget, for the test errors).\n\n"
            + table(headers, rows) + "\n\n" + _cache_line(report))
