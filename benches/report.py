#!/usr/bin/env python3
"""Turns one run of `benches/suite.rs` into `benches/results.csv`, the tables of BENCHMARKS.md
and `benches/chart.svg`. Python 3 standard library only.

Reads `<target>/bench-suite/cells.csv` (written by the suite: status, polls, allocations, bytes,
size_of of every cell) and criterion's `<target>/criterion/<workload>/<impl>-<shape>/<n>/new/
estimates.json` (median time per group), then writes:

* `benches/results.csv`: one line per cell: workload, implementation, shape, n, status,
  median ns per child, allocations and bytes per group (by the join, and for the input),
  size_of the group, bytes per child, polls, errors returned, run mode;
* the part of `BENCHMARKS.md` between `<!-- results:begin -->` and `<!-- results:end -->`:
  machine, headline table with ratios, targets, allocation and memory tables, full tables;
* `benches/chart.svg`: ns per child against group size, log-log, one panel per workload, one
  line per implementation and shape.

Usage (from the crate root, after `cargo bench --bench suite`):

    python3 benches/report.py [--target DIR] [--markdown BENCHMARKS.md] [--svg benches/chart.svg]
"""

import argparse
import csv
import datetime
import json
import math
import os
import platform
import subprocess
import sys

WORKLOADS = ["ready", "yield", "chain", "fail", "many-errors", "cross-thread"]
SHAPES = ["vec", "array", "tuple"]
TASKGROUP = ["taskgroup_try_join", "taskgroup_join"]
PEERS = [
    "join_all",
    "try_join_all",
    "FuturesUnordered",
    "futures_concurrency",
    "futures_buffered",
    "embassy_join_array",
    "tokio_try_join",
]
FLOOR = "floor"
# The cheapest join with a counted, thread-safe waker per child (chain, every n, knowing the
# chain's order above 64; cross-thread over a Vec, every n): what designs like taskgroup's must
# pay at least; not a peer either.
FLOOR_WAKERS = "floor_wakers"
# The floor that first polls each of the n - 1 pending children once (fail, n >= 8): the least
# any combinator does before it can know of the error; not a peer either.
FLOOR_POLL_ALL = "floor_poll_all"
# Cross-thread's floor with wakers in its prompt form: it wakes its parent as a join does, so it
# polls while the helper wakes (Vec, every n); not a peer, and no bound.
FLOOR_WAKERS_PROMPT = "floor_wakers_prompt"
# The references beside the floor, each defined for some cells only: per workload it is measured
# in, whether it bounds every design of its kind from below (a miss where it is itself over the
# line is counted as at a limit), and its name in the prose. In cross-thread the floor with
# wakers knows the workload's last wake, and a join that polls while the helper wakes can read
# below it: it is shown and noted there, not counted.
REFERENCES = {
    FLOOR_WAKERS: ({"chain": True, "cross-thread": False}, "the floor with wakers"),
    FLOOR_POLL_ALL: ({"fail": True}, "the floor polling every child"),
    FLOOR_WAKERS_PROMPT: ({"cross-thread": False}, "the prompt floor with wakers"),
}
FLOORS = [FLOOR] + list(REFERENCES)
IMPLEMENTATIONS = TASKGROUP + PEERS + FLOORS

NAMES = {
    "taskgroup_try_join": "taskgroup::try_join",
    "taskgroup_join": "taskgroup::join",
    "join_all": "join_all",
    "try_join_all": "try_join_all",
    "FuturesUnordered": "FuturesUnordered",
    "futures_concurrency": "futures-concurrency TryJoin",
    "futures_buffered": "futures-buffered try_join_all",
    "embassy_join_array": "embassy join_array",
    "tokio_try_join": "tokio::try_join!",
    "floor": "floor",
    "floor_wakers": "floor with wakers",
    "floor_poll_all": "floor polling every child",
    "floor_wakers_prompt": "prompt floor with wakers",
}
SHORT = {
    "taskgroup_try_join": "tg try_join",
    "taskgroup_join": "tg join",
    "join_all": "join_all",
    "try_join_all": "try_join_all",
    "FuturesUnordered": "FuturesUnordered",
    "futures_concurrency": "f-concurrency",
    "futures_buffered": "f-buffered",
    "embassy_join_array": "embassy",
    "tokio_try_join": "tokio try_join!",
    "floor": "floor",
    "floor_wakers": "floor w/ wakers",
    "floor_poll_all": "floor polls all",
    "floor_wakers_prompt": "prompt w/ wakers",
}
COLORS = {
    "taskgroup_try_join": "#1f4fd8",
    "taskgroup_join": "#34a7e0",
    "join_all": "#f08c00",
    "try_join_all": "#a05a00",
    "FuturesUnordered": "#2b9a3e",
    "futures_concurrency": "#8a3ffc",
    "futures_buffered": "#d62728",
    "embassy_join_array": "#8c8c00",
    "tokio_try_join": "#e377c2",
    "floor": "#222222",
    "floor_wakers": "#777777",
    "floor_poll_all": "#aaaaaa",
    "floor_wakers_prompt": "#bbbbbb",
}
DASH = {"vec": "", "array": "7,4", "tuple": ""}
MARKER = {"vec": "circle", "array": "square", "tuple": "diamond"}


# ----------------------------------------------------------------------------------------------
# Reading


def read_cells(target):
    path = os.path.join(target, "bench-suite", "cells.csv")
    if not os.path.exists(path):
        sys.exit(f"{path} not found: run `cargo bench --bench suite` first")
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key in ("n", "polls", "errors", "input_allocations", "input_bytes",
                        "allocations", "bytes", "size_of", "child_size"):
                row[key] = int(row[key])
            row["median_ns"] = None
            if row["status"] == "ok":
                est = os.path.join(target, "criterion", row["workload"],
                                   f"{row['implementation']}-{row['shape']}", str(row["n"]),
                                   "new", "estimates.json")
                if os.path.exists(est):
                    with open(est) as e:
                        row["median_ns"] = json.load(e)["median"]["point_estimate"]
            rows.append(row)
    return rows


def per_child(row):
    if row is None or row["median_ns"] is None:
        return None
    return row["median_ns"] / row["n"]


def bytes_per_child(row):
    """Everything the group occupies per child: its inline size, the input's heap bytes (the
    children, for a Vec) and the heap bytes the join allocated."""
    return (row["size_of"] + row["input_bytes"] + row["bytes"]) / row["n"]


def index(rows):
    return {(r["workload"], r["implementation"], r["shape"], r["n"]): r for r in rows}


# ----------------------------------------------------------------------------------------------
# Formatting


def fmt_ns(x):
    if x is None:
        return "—"
    if x < 10:
        return f"{x:.2f}"
    if x < 100:
        return f"{x:.1f}"
    return f"{x:,.0f}"


def fmt_ratio(x, limit=None):
    if x is None:
        return "—"
    text = f"{x:.2f}×"
    if limit is not None and x > limit:
        text = f"**{text}**"
    return text


def cell_text(row, with_allocs=True):
    if row is None:
        return "—"
    if row["status"] == "never-returns":
        return "never returns"
    ns = per_child(row)
    if ns is None:
        return "not run"
    if with_allocs:
        return f"{fmt_ns(ns)} [{row['allocations']}]"
    return fmt_ns(ns)


def sizes_of(rows, workload, shape):
    return sorted({r["n"] for r in rows if r["workload"] == workload and r["shape"] == shape})


def fastest_peer(idx, workload, shape, n):
    best = None
    for imp in PEERS:
        row = idx.get((workload, imp, shape, n))
        ns = per_child(row)
        if ns is not None and (best is None or ns < best[1]):
            best = (imp, ns)
    return best


# ----------------------------------------------------------------------------------------------
# Markdown


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        rustc = subprocess.run(["rustc", "-V"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rustc = "unknown"
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}; {rustc}"


def markdown(rows, cells_path):
    idx = index(rows)
    modes = sorted({r["mode"] for r in rows})
    when = datetime.datetime.fromtimestamp(os.path.getmtime(cells_path), datetime.timezone.utc)
    out = []
    w = out.append
    w(f"Generated by `benches/report.py` from one {'/'.join(modes)} run "
      f"(cells file written {when:%Y-%m-%d %H:%M} UTC) on: {machine()}.")
    w("")
    w("Times are criterion's median per group divided by the group size: **ns per child**. "
      "`[k]` is the number of heap allocations the join made per group, beyond building the "
      "input (a `Vec` input is one more allocation, the same for everyone). **Bold** ratios miss "
      "issue 3's target. The fastest peer is the fastest non-taskgroup implementation of the "
      "same shape, fallible or not.")
    w("")

    # Headline
    w("### Headline: taskgroup against the fastest peer and the floor")
    w("")
    w("| workload | shape | n | tg try_join | tg join | fastest peer | floor "
      "| try_join ÷ peer | join ÷ peer | try_join ÷ floor | join ÷ floor | tg allocs |")
    w("|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|")
    for workload in WORKLOADS:
        for shape in SHAPES:
            for n in sizes_of(rows, workload, shape):
                tj = idx.get((workload, "taskgroup_try_join", shape, n))
                jn = idx.get((workload, "taskgroup_join", shape, n))
                fl = idx.get((workload, FLOOR, shape, n))
                peer = fastest_peer(idx, workload, shape, n)
                tj_ns, jn_ns, fl_ns = per_child(tj), per_child(jn), per_child(fl)
                floor_limit = 1.5 if workload == "ready" and n >= 1024 else 2.0
                ratio = lambda a, b: a / b if a is not None and b else None  # noqa: E731
                peer_ns = peer[1] if peer else None
                allocs = "/".join(str(r["allocations"]) for r in (tj, jn) if r is not None)
                w(f"| {workload} | {shape} | {n} | {fmt_ns(tj_ns)} | {fmt_ns(jn_ns)} | "
                  f"{(fmt_ns(peer_ns) + ' ' + SHORT[peer[0]]) if peer else '—'} | "
                  f"{fmt_ns(fl_ns)} | "
                  f"{fmt_ratio(ratio(tj_ns, peer_ns), 0.8)} | "
                  f"{fmt_ratio(ratio(jn_ns, peer_ns), 0.8)} | "
                  f"{fmt_ratio(ratio(tj_ns, fl_ns), floor_limit)} | "
                  f"{fmt_ratio(ratio(jn_ns, fl_ns), floor_limit)} | {allocs or '—'} |")
    w("")
    reference_table(w, rows, idx, FLOOR_WAKERS, "chain", "Chain against the floor with wakers",
                    "The floor with wakers (`benches/suite/wake_floor.rs`) is the cheapest join we "
                    "could write that gives each child a counted waker of its own (usable from any "
                    "thread, keeping the wake state alive with a reference count) and polls only "
                    "woken children: per link, a waker clone, a `fetch_or`, a waker drop and a "
                    "`swap`, one allocation per group and nothing else. Like the floor it knows the "
                    "workload: after its first sweep it takes only the ready word of the chain's "
                    "next child (up to 64 children the group's only word) and polls only that "
                    "child, where a join must find the woken word and child. Where it is above "
                    "0.8× the fastest peer, or above 2× the floor, so is every design with "
                    "counted wakers.")
    reference_table(w, rows, idx, FLOOR_WAKERS, "cross-thread",
                    "Cross-thread against the floor with wakers",
                    "In cross-thread the floor with wakers (`benches/suite/cross_wake_floor.rs`, "
                    "`Vec` only) is the cross-thread floor with a counted waker per child: it adds "
                    "the clone the helper keeps (a count up), the wake (a `fetch_or`) and the "
                    "woken waker's drop (a count down), and one `swap` per 64 children, and like "
                    "the floor it waits for the last wake only. It measures what such wakers cost "
                    "in this workload; a join that polls while the helper wakes can read below it.")
    reference_table(w, rows, idx, FLOOR_WAKERS_PROMPT, "cross-thread",
                    "Cross-thread against the prompt floor with wakers",
                    "The prompt floor with wakers is the same with the parent woken as a join "
                    "does: a wake that makes its word non-empty outside a poll wakes it, and each "
                    "poll takes what was woken (the lowest unfinished word, as the helper wakes "
                    "in index order) and returns `Pending` until the next wake. It shows what "
                    "polling while the helper wakes costs in its simplest form; it is no bound.")
    reference_table(w, rows, idx, FLOOR_POLL_ALL, "fail", "Fail against the floor polling every child",
                    "The floor polling every child (`floor::Kind::PollAll` in `benches/suite.rs`) "
                    "is the fail floor, but it first polls each of the n − 1 pending children "
                    "once, with a no-op waker and nothing else, and then drops them: nothing tells "
                    "a combinator which child will fail, so it polls each at least once before it "
                    "can know. Where it is above 2× the floor, so is every combinator.")

    # Targets
    w("### Targets of issue 3, checked against this run")
    w("")
    w(targets(rows, idx))
    w("")

    # Allocations and memory
    w("### Allocations and bytes per group")
    w("")
    w("Allocations the join made per group (beyond the input), and bytes per child: the group's "
      "`size_of`, plus the input's heap bytes (a `Vec` of children), plus the bytes the join "
      "allocated (every allocation's size summed, not the peak), divided by n. A child is "
      f"{rows[0]['child_size']} bytes and its output 8. Each cell: `allocations / bytes per child`.")
    w("")
    def alloc_cell(r):
        if r is None:
            return "—"
        if r["status"] != "ok":
            return "never returns"
        return f"{r['allocations']} / {bytes_per_child(r):.1f}"

    per_workload_tables(w, rows, idx, alloc_cell)

    # Full tables
    w("### Every cell: ns per child [allocations by the join]")
    w("")
    per_workload_tables(w, rows, idx, cell_text)
    return "\n".join(out)


def reference_table(w, rows, idx, reference, workload, title, intro):
    """The cells of `workload` that have `reference`: taskgroup, the peer, it and the floor."""
    keys = [(shape, n) for shape in SHAPES for n in sizes_of(rows, workload, shape)
            if per_child(idx.get((workload, reference, shape, n))) is not None]
    if not keys:
        return
    short = SHORT[reference]
    with_join = any(idx.get((workload, "taskgroup_join", shape, n)) for shape, n in keys)
    w(f"### {title}")
    w("")
    w(intro)
    w("")
    w("| shape | n | tg try_join | " + ("tg join | " if with_join else "")
      + f"{short} | fastest peer | floor | try_join ÷ {short} | {short} ÷ peer "
      f"| {short} ÷ floor |")
    w("|---|--:|--:|" + ("--:|" if with_join else "") + "--:|---|--:|--:|--:|--:|")
    for shape, n in keys:
        tj = per_child(idx.get((workload, "taskgroup_try_join", shape, n)))
        jn = per_child(idx.get((workload, "taskgroup_join", shape, n)))
        rf = per_child(idx.get((workload, reference, shape, n)))
        fl = per_child(idx.get((workload, FLOOR, shape, n)))
        peer = fastest_peer(idx, workload, shape, n)
        peer_ns = peer[1] if peer else None
        ratio = lambda a, b: f"{a / b:.2f}×" if a is not None and b else "—"  # noqa: E731
        w(f"| {shape} | {n} | {fmt_ns(tj)} | " + (f"{fmt_ns(jn)} | " if with_join else "")
          + f"{fmt_ns(rf)} | {(fmt_ns(peer_ns) + ' ' + SHORT[peer[0]]) if peer else '—'} | "
          f"{fmt_ns(fl)} | {ratio(tj, rf)} | {ratio(rf, peer_ns)} | {ratio(rf, fl)} |")
    w("")


def reference_of(idx, workload, shape, n):
    """The reference beside the floor that this cell has, as (name, ns per child, whether it
    bounds every design of its kind), or None."""
    for reference, (workloads, name) in REFERENCES.items():
        ns = per_child(idx.get((workload, reference, shape, n)))
        if ns is not None and workload in workloads:
            return name, ns, workloads[workload]
    return None


def per_workload_tables(w, rows, idx, cell):
    """One table per workload: a row per (shape, n), a column per implementation it has."""
    for workload in WORKLOADS:
        w(f"**{workload}**")
        w("")
        imps = [i for i in IMPLEMENTATIONS
                if any(r["implementation"] == i and r["workload"] == workload for r in rows)]
        w("| shape | n | " + " | ".join(SHORT[i] for i in imps) + " |")
        w("|---|--:|" + "--:|" * len(imps))
        for shape in SHAPES:
            for n in sizes_of(rows, workload, shape):
                cells = [cell(idx.get((workload, imp, shape, n))) for imp in imps]
                w(f"| {shape} | {n} | " + " | ".join(cells) + " |")
        w("")


def targets(rows, idx):
    lines = []
    w = lines.append

    # 1. At most 0.8 x the fastest peer in every cell.
    misses, cells = [], 0
    for (workload, imp, shape, n), row in sorted(idx.items()):
        if imp not in TASKGROUP:
            continue
        ns, peer = per_child(row), fastest_peer(idx, workload, shape, n)
        if ns is None or peer is None:
            continue
        cells += 1
        if ns > 0.8 * peer[1]:
            # Where the floor itself is above the line, the cell asks for less than the floor.
            # And where a reference is (the floor with wakers, the floor polling every child),
            # it asks for less than any design of that kind can cost.
            fl = per_child(idx.get((workload, FLOOR, shape, n)))
            ref = reference_of(idx, workload, shape, n)
            if fl is not None and fl > 0.8 * peer[1]:
                bound, note = "floor", f"; the floor is {fl / peer[1]:.2f}×"
            elif ref is not None and ref[1] > 0.8 * peer[1] and ref[2]:
                bound, note = "reference", f"; {ref[0]} is {ref[1] / peer[1]:.2f}×"
            elif ref is not None:
                bound, note = None, f"; {ref[0]} is {ref[1] / peer[1]:.2f}× (not a bound here)"
            else:
                bound, note = None, ""
            misses.append((ns / peer[1], f"{workload}/{shape}/{n} {SHORT[imp]}: {fmt_ns(ns)} vs "
                                         f"{fmt_ns(peer[1])} ({SHORT[peer[0]]}) = "
                                         f"{ns / peer[1]:.2f}×{note}", bound))
    above = sum(bound == "floor" for _, _, bound in misses)
    referenced = sum(bound == "reference" for _, _, bound in misses)
    w(f"1. **≤ 0.8× the fastest peer in every cell**: met in {cells - len(misses)} of {cells} "
      f"taskgroup cells; missed in {len(misses)}, of which {above} are cells where the floor "
      f"itself is above 0.8× the fastest peer, and {referenced} more where the floor with "
      f"wakers or the floor polling every child is (noted)" + (":" if misses else "."))
    for _, text, _ in sorted(misses, reverse=True):
        w(f"   - {text}")

    # 2. At most 2x the floor, 1.5x for ready >= 1024.
    misses, cells = [], 0
    for (workload, imp, shape, n), row in sorted(idx.items()):
        if imp not in TASKGROUP:
            continue
        ns, fl = per_child(row), per_child(idx.get((workload, FLOOR, shape, n)))
        if ns is None or fl is None:
            continue
        cells += 1
        limit = 1.5 if workload == "ready" and n >= 1024 else 2.0
        if ns > limit * fl:
            # Where a reference is itself above the limit, the cell asks for less than any
            # design of its kind can cost.
            ref = reference_of(idx, workload, shape, n)
            note = f"; {ref[0]} is {ref[1] / fl:.2f}×" if ref is not None else ""
            if ref is not None and not ref[2]:
                note += " (not a bound here)"
            bound = ref is not None and ref[2] and ref[1] > limit * fl
            misses.append((ns / fl, f"{workload}/{shape}/{n} {SHORT[imp]}: {fmt_ns(ns)} vs floor "
                                    f"{fmt_ns(fl)} = {ns / fl:.2f}× (limit {limit}×{note})",
                           bound))
    referenced = sum(bound for _, _, bound in misses)
    w(f"2. **≤ 2× the floor (≤ 1.5× for ready at n ≥ 1024)**: met in {cells - len(misses)} of "
      f"{cells} taskgroup cells; missed in {len(misses)}, of which {referenced} are cells where "
      f"the floor with wakers or the floor polling every child is itself above the limit (noted)"
      + (":" if misses else "."))
    for _, text, _ in sorted(misses, reverse=True):
        w(f"   - {text}")

    # 3. Chain 16384 at most 1.5x chain 64 per child.
    parts = []
    for imp in TASKGROUP:
        a = per_child(idx.get(("chain", imp, "vec", 64)))
        b = per_child(idx.get(("chain", imp, "vec", 16384)))
        if a and b:
            verdict = "met" if b <= 1.5 * a else "**missed**"
            parts.append(f"{SHORT[imp]}: {fmt_ns(b)} vs {fmt_ns(a)} ns = {b / a:.2f}× ({verdict})")
    context = []
    for imp in (FLOOR, "futures_buffered", "FuturesUnordered"):
        a = per_child(idx.get(("chain", imp, "vec", 64)))
        b = per_child(idx.get(("chain", imp, "vec", 16384)))
        if a and b:
            context.append(f"{SHORT[imp]} {b / a:.2f}×")
    w("3. **chain at 16384 ≤ 1.5× chain at 64, per child** (`Vec`): " + "; ".join(parts)
      + (". The same ratio for " + ", ".join(context) if context else "") + ".")

    # 4. Allocations: at most 2 per Vec group; 0 for arrays and tuples when no child returns
    # Pending; none for a single error.
    def most(workload, shape):
        counts = [r["allocations"] for r in rows if r["implementation"] in TASKGROUP
                  and r["workload"] == workload and r["shape"] == shape and r["status"] == "ok"]
        return max(counts) if counts else None

    w("4. **Allocations per group** by the join (most over sizes and both functions; the input "
      "`Vec` is one more). Targets: ≤ 2 for `Vec`; 0 for arrays and tuples when no child returns "
      "`Pending` (ready, many-errors); 0 for a single error (fail).")
    w("")
    w("   | workload | vec | array | tuple | verdict |")
    w("   |---|--:|--:|--:|---|")
    for workload in WORKLOADS:
        v, a, t = (most(workload, shape) for shape in SHAPES)
        misses = []
        if v is not None and v > 2:
            misses.append(f"vec {v} > 2")
        if workload in ("ready", "many-errors"):
            misses += [f"{shape} {m} > 0" for shape, m in (("array", a), ("tuple", t))
                       if m is not None and m > 0]
        if workload == "fail":
            misses += [f"{shape} {m} > 0" for shape, m in zip(SHAPES, (v, a, t))
                       if m is not None and m > 0]
        verdict = "met" if not misses else "**missed**: " + ", ".join(misses)
        show = lambda m: "—" if m is None else str(m)  # noqa: E731
        w(f"   | {workload} | {show(v)} | {show(a)} | {show(t)} | {verdict} |")
    w("")

    # 5. Memory: no per-child heap overhead beyond the child, its output slot and a few bytes.
    parts = []
    for shape in SHAPES:
        big = [r for r in rows if r["implementation"] in TASKGROUP and r["shape"] == shape
               and r["status"] == "ok" and r["n"] >= (8 if shape == "tuple" else 1024)]
        if big:
            lo = min(bytes_per_child(r) for r in big)
            hi = max(bytes_per_child(r) for r in big)
            at = "n = 8" if shape == "tuple" else "n ≥ 1024"
            parts.append(f"{shape} {lo:.1f}–{hi:.1f} at {at}")
    child = rows[0]["child_size"]
    w(f"5. **Memory, bytes per child** for taskgroup (group `size_of` + input + join heap bytes, "
      f"÷ n; the child itself is {child} bytes, its output 8): " + "; ".join(parts)
      + ". Per workload and peer in the table below.")
    return "\n".join(lines)


def write_markdown(path, body):
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    text = open(path).read() if os.path.exists(path) else f"# Benchmarks\n\n{begin}\n{end}\n"
    if begin not in text or end not in text:
        sys.exit(f"{path} lacks the {begin} / {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(f"{head}{begin}\n{body}\n{end}{tail}")


def write_results_csv(path, rows):
    fields = ["workload", "implementation", "shape", "n", "status", "median_ns_per_child",
              "median_ns_per_group", "allocations", "bytes", "input_allocations", "input_bytes",
              "size_of", "bytes_per_child", "polls", "errors", "mode"]
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(fields)
        key = lambda r: (WORKLOADS.index(r["workload"]), SHAPES.index(r["shape"]), r["n"],  # noqa: E731
                         IMPLEMENTATIONS.index(r["implementation"]))
        for r in sorted(rows, key=key):
            ns = per_child(r)
            out.writerow([r["workload"], r["implementation"], r["shape"], r["n"], r["status"],
                          f"{ns:.3f}" if ns is not None else "",
                          f"{r['median_ns']:.1f}" if r["median_ns"] is not None else "",
                          r["allocations"], r["bytes"], r["input_allocations"], r["input_bytes"],
                          r["size_of"], f"{bytes_per_child(r):.2f}", r["polls"], r["errors"],
                          r["mode"]])


# ----------------------------------------------------------------------------------------------
# SVG chart

PANEL_W, PANEL_H = 430, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 62, 16, 34, 44
COLS = 3
LEGEND_H = 112
X_MIN, X_MAX = 1, 131072


def esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_chart(rows):
    idx = index(rows)
    n_rows = math.ceil(len(WORKLOADS) / COLS)
    width = COLS * (PANEL_W + MARGIN_L + MARGIN_R) + 20
    height = LEGEND_H + n_rows * (PANEL_H + MARGIN_T + MARGIN_B) + 10
    s = []
    a = s.append
    a(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
      f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">')
    a(f'<rect width="{width}" height="{height}" fill="#ffffff"/>')
    a('<text x="20" y="26" font-size="18" font-weight="bold" fill="#111">'
      'taskgroup vs peers: median ns per child against group size (log-log; lower is better)'
      '</text>')

    # Legend: implementations (colour) and shapes (line style).
    present = [i for i in IMPLEMENTATIONS if any(r["implementation"] == i for r in rows)]
    x, y = 20, 52
    for imp in present:
        label = NAMES[imp]
        wdt = 30 + 7.4 * len(label) + 18
        if x + wdt > width - 20:
            x, y = 20, y + 22
        width_px = 3.5 if imp in TASKGROUP else 2
        dash = "3,3" if imp in FLOORS else ""
        a(f'<line x1="{x}" y1="{y}" x2="{x + 24}" y2="{y}" stroke="{COLORS[imp]}" '
          f'stroke-width="{width_px}" stroke-dasharray="{dash}"/>')
        a(f'<text x="{x + 30}" y="{y + 4.5}" font-size="13" fill="#111">{esc(label)}</text>')
        x += wdt
    x, y = 20, y + 22
    for shape, text in (("vec", "Vec (solid, ●)"), ("array", "array (dashed, ■)"),
                        ("tuple", "8-tuple (◆ at n = 8)")):
        # The floor is dotted in every shape; these keys show the peers' line styles.
        a(f'<line x1="{x}" y1="{y}" x2="{x + 24}" y2="{y}" stroke="#555" stroke-width="2" '
          f'stroke-dasharray="{DASH[shape]}"/>')
        a(marker(shape, x + 12, y, "#555"))
        a(f'<text x="{x + 30}" y="{y + 4.5}" font-size="13" fill="#111">{esc(text)}</text>')
        x += 30 + 7.4 * len(text) + 26

    for k, workload in enumerate(WORKLOADS):
        ox = 10 + (k % COLS) * (PANEL_W + MARGIN_L + MARGIN_R) + MARGIN_L
        oy = LEGEND_H + (k // COLS) * (PANEL_H + MARGIN_T + MARGIN_B) + MARGIN_T
        a(panel(rows, idx, workload, ox, oy))
    a("</svg>")
    return "\n".join(s)


def marker(shape, x, y, color):
    if MARKER[shape] == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>'
    if MARKER[shape] == "square":
        return (f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="{color}"/>')
    return (f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} '
            f'{x - 5:.1f},{y:.1f}" fill="{color}" stroke="#fff" stroke-width="0.8"/>')


def panel(rows, idx, workload, ox, oy):
    values = [per_child(r) for r in rows if r["workload"] == workload and per_child(r)]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    if hi / lo < 100:
        hi = lo * 100
    lx = lambda n: ox + PANEL_W * math.log(n / X_MIN) / math.log(X_MAX / X_MIN)  # noqa: E731
    ly = lambda v: oy + PANEL_H * (1 - math.log(v / lo) / math.log(hi / lo))  # noqa: E731
    s = []
    a = s.append
    a(f'<g><rect x="{ox}" y="{oy}" width="{PANEL_W}" height="{PANEL_H}" fill="#fbfbfb" '
      f'stroke="#999"/>')
    a(f'<text x="{ox + PANEL_W / 2}" y="{oy - 12}" font-size="15" font-weight="bold" '
      f'text-anchor="middle" fill="#111">{esc(workload)}</text>')
    # Grid and ticks.
    for n in (1, 8, 64, 1024, 16384, 131072):
        x = lx(n)
        a(f'<line x1="{x:.1f}" y1="{oy}" x2="{x:.1f}" y2="{oy + PANEL_H}" stroke="#e3e3e3"/>')
        a(f'<text x="{x:.1f}" y="{oy + PANEL_H + 16}" font-size="11.5" text-anchor="middle" '
          f'fill="#333">{n}</text>')
    a(f'<text x="{ox + PANEL_W / 2}" y="{oy + PANEL_H + 34}" font-size="12" text-anchor="middle" '
      f'fill="#333">children in the group (n)</text>')
    decade = lo
    while decade <= hi * 1.0001:
        y = ly(decade)
        a(f'<line x1="{ox}" y1="{y:.1f}" x2="{ox + PANEL_W}" y2="{y:.1f}" stroke="#d8d8d8"/>')
        label = f"{decade:g}" if decade < 1000 else f"{decade / 1000:g}k"
        a(f'<text x="{ox - 6}" y="{y + 4:.1f}" font-size="11.5" text-anchor="end" '
          f'fill="#333">{label}</text>')
        for m in (2, 5):
            if decade * m < hi:
                ym = ly(decade * m)
                a(f'<line x1="{ox}" y1="{ym:.1f}" x2="{ox + 4}" y2="{ym:.1f}" stroke="#999"/>')
        decade *= 10
    a(f'<text x="{ox - 46}" y="{oy + PANEL_H / 2}" font-size="12" text-anchor="middle" '
      f'fill="#333" transform="rotate(-90 {ox - 46} {oy + PANEL_H / 2})">ns per child</text>')
    # Lines: floor first (underneath), taskgroup last (on top).
    order = FLOORS + PEERS + list(reversed(TASKGROUP))
    never = []
    for imp in order:
        for shape in SHAPES:
            pts = []
            for n in sizes_of(rows, workload, shape):
                r = idx.get((workload, imp, shape, n))
                if r is None:
                    continue
                if r["status"] == "never-returns":
                    never.append((imp, shape, n))
                    continue
                v = per_child(r)
                if v:
                    pts.append((lx(n), ly(v)))
            if not pts:
                continue
            color = COLORS[imp]
            width_px = 3 if imp in TASKGROUP else 1.8
            if imp in FLOORS:
                width_px = 2.2
            if len(pts) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                dash = DASH[shape]
                if imp in FLOORS:
                    dash = "3,3" if shape == "vec" else "1,4"
                a(f'<polyline points="{path}" fill="none" stroke="{color}" '
                  f'stroke-width="{width_px}" stroke-dasharray="{dash}" '
                  f'stroke-linejoin="round" opacity="0.92"/>')
            for x, y in pts:
                a(marker(shape, x, y, color))
    if never:
        groups = {}
        for imp, shape, n in never:
            groups.setdefault((imp, shape), []).append(n)
        y = oy + 18
        for (imp, shape), ns in groups.items():
            text = f"{NAMES[imp]} ({shape}): never returns at n = {', '.join(map(str, ns))}"
            a(f'<text x="{ox + 8}" y="{y}" font-size="11.5" fill="{COLORS[imp]}" '
              f'font-weight="bold">{esc(text)}</text>')
            y += 15
    a("</g>")
    return "\n".join(s)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default=os.environ.get("CARGO_TARGET_DIR", "target"))
    parser.add_argument("--markdown", default="BENCHMARKS.md")
    parser.add_argument("--svg", default=os.path.join("benches", "chart.svg"))
    parser.add_argument("--csv", default=os.path.join("benches", "results.csv"))
    args = parser.parse_args()

    rows = read_cells(args.target)
    missing = [r for r in rows if r["status"] == "ok" and r["median_ns"] is None]
    if missing:
        print(f"warning: {len(missing)} cells have no criterion estimate", file=sys.stderr)
    write_results_csv(args.csv, rows)
    write_markdown(args.markdown, markdown(rows, os.path.join(args.target, "bench-suite",
                                                              "cells.csv")))
    with open(args.svg, "w") as f:
        f.write(svg_chart(rows))
    print(f"wrote {args.csv}, {args.markdown}, {args.svg} from {len(rows)} cells")


if __name__ == "__main__":
    main()
