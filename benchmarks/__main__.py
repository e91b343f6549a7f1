"""``python -m benchmarks``: run the suite and write BENCHMARKS.md.

Each workload runs in its own child process (``--child KEY``), so its peak RSS
is its own and one workload's garbage never lands in another's timings; all
candidates of a workload share that process and its data.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import time
from typing import Dict, List, Optional

from .harness import Row, Settings, Workload, json_tail, log, machine, run_child


def all_workloads(settings: Settings) -> List[Workload]:
    from . import background, bigfile, bulk, codecs, framing

    return (
        framing.workloads(settings)
        + bulk.workloads(settings)
        + bigfile.workloads(settings)
        + codecs.workloads(settings)
        + background.workloads(settings)
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="flatstream against its peers, in one run; writes BENCHMARKS.md.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run (< 2 min)")
    parser.add_argument(
        "--repeats", type=int, help="interleaved repeats per case (default 7; 3 with --quick)"
    )
    parser.add_argument(
        "--big-file-mib",
        type=int,
        help="size of the on-disk file workload in MiB (default 1024; 64 with --quick)",
    )
    parser.add_argument(
        "--only",
        help="comma-separated workload keys or families to run (see --list)",
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument(
        "--output",
        default=None,
        help="where to write the report (default BENCHMARKS.md; '-' = none)",
    )
    parser.add_argument("--json", default=None, help="also write the raw rows to this JSON file")
    parser.add_argument(
        "--from-json",
        default=None,
        help="measure nothing: render the report again from a --json file of an earlier run",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    return parser


def _child(key: str, settings: Settings) -> None:
    for workload in all_workloads(settings):
        if workload.key == key:
            rows = workload.run(settings)
            print(json.dumps([row.to_json() for row in rows]))
            return
    raise SystemExit(f"unknown workload {key!r}")


def _select(workloads: List[Workload], only: Optional[str]) -> List[Workload]:
    if not only:
        return workloads
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    chosen = [w for w in workloads if w.key in wanted or w.family in wanted]
    unknown = wanted - {w.key for w in chosen} - {w.family for w in chosen}
    if unknown:
        raise SystemExit(f"unknown workloads: {', '.join(sorted(unknown))} (see --list)")
    return chosen


def _rerender(path: str, output: Optional[str]) -> None:
    """The report of an earlier run (e.g. after editing where_the_time_goes.md)."""
    from .report import render

    with open(path) as f:
        data = json.load(f)
    settings = Settings(**data["settings"])
    by_key = {w.key: w for w in all_workloads(settings)}
    workloads = [by_key[key] for key, _family, _title in data["workloads"] if key in by_key]
    rows = [Row.from_json(r) for r in data["rows"]]
    text = render(data["machine"], settings, workloads, rows, data["workload_rss_kib"])
    with open(output or "BENCHMARKS.md", "w") as f:
        f.write(text)
    log(f"wrote {output or 'BENCHMARKS.md'} from {path}")


def main(argv: Optional[List[str]] = None) -> None:
    args = _parser().parse_args(argv)
    if args.child:
        _child(args.child, Settings(**json.loads(args.settings)))
        return
    if args.from_json:
        _rerender(args.from_json, args.output)
        return
    settings = Settings.for_run(args.quick, args.repeats, args.big_file_mib)
    workloads = _select(all_workloads(settings), args.only)
    if args.list:
        for w in workloads:
            print(f"{w.key:<24} {w.family:<12} {w.title}")
        return

    info = machine()
    info["command"] = os.environ.get("FLATSTREAM_BENCH_COMMAND") or shlex.join(
        ["python", "-m", "benchmarks", *(argv if argv is not None else sys.argv[1:])]
    )
    rows: List[Row] = []
    rss: Dict[str, int] = {}
    started = time.monotonic()
    settings_json = json.dumps(dataclasses.asdict(settings))
    for workload in workloads:
        log(f"== {workload.key}: {workload.title}")
        workload_started = time.monotonic()
        try:
            out, peak = run_child(
                ["-m", "benchmarks", "--child", workload.key, "--settings", settings_json]
            )
        except RuntimeError as error:
            log(f"!! {workload.key} failed: {error}")
            rows.append(
                Row(
                    workload.title,
                    "(workload)",
                    "-",
                    0,
                    0,
                    note=f"failed: {error}",
                    extra={"key": workload.key},
                )
            )
            continue
        rss[workload.key] = peak
        log(
            f"== {workload.key}: {time.monotonic() - workload_started:.1f} s, peak RSS {peak // 1024} MiB"
        )
        for data in json_tail(out):
            row = Row.from_json(data)
            row.extra["key"] = workload.key
            rows.append(row)
    info["elapsed_s"] = round(time.monotonic() - started, 1)
    info["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None

    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": info,
                    "settings": dataclasses.asdict(settings),
                    "workload_rss_kib": rss,
                    "workloads": [(w.key, w.family, w.title) for w in workloads],
                    "rows": [r.to_json() for r in rows],
                },
                f,
                indent=1,
            )
    output = args.output if args.output is not None else "BENCHMARKS.md"
    if output != "-":
        from .report import render

        text = render(info, settings, workloads, rows, rss)
        with open(output, "w") as f:
            f.write(text)
        log(f"wrote {output} ({info['elapsed_s']} s)")


if __name__ == "__main__":
    main()
