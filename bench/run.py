"""MedFed's benchmark suite: one command runs every benchmark, writes `bench/results/*.json`
and regenerates the README's benchmark tables from those files.

    python bench/run.py                 # everything (what `make bench` runs; over an hour)
    python bench/run.py --quick         # every benchmark briefly: tests the harness (CI)
    python bench/run.py --only serving,aggregation
    python bench/run.py --render        # only rewrite the README tables from saved results

Quick runs write to `bench/results/quick/` and render to `bench/results/quick/README.md`; they
never touch README.md, and run two sections at once (their numbers are not measurements).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import aggregation
import baselines
import comorbidity
import diseases
import flamby
import flower
import idle_nodes
import logins
import membership
import node_training
import overhead
import privacy
import protection
import secagg
import serving
from harness import README, RESULTS, replace_section, save

SECTIONS: dict[str, ModuleType] = {
    "flamby": flamby,
    "diseases": diseases,
    "comorbidity": comorbidity,
    "privacy": privacy,
    "membership": membership,
    "overhead": overhead,
    "idle-nodes": idle_nodes,
    "aggregation": aggregation,
    "secagg": secagg,
    "protection": protection,
    "serving": serving,
    "logins": logins,
    "node-training": node_training,
    "flower": flower,
    "baselines": baselines,
}


def render_all(folder: Path, text: str) -> tuple[str, list[str]]:
    """The README text with every section that has a results file rewritten from it."""
    missing = []
    for name, module in SECTIONS.items():
        path = folder / f"{name}.json"
        if not path.exists():
            missing.append(name)
            continue
        record = json.loads(path.read_text())
        render: Callable[[dict[str, Any]], str] = module.render
        text = replace_section(text, name, render(record))
    return text, missing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="run each benchmark briefly")
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--render", action="store_true", help="only regenerate the README")
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="simulations run at once in the accuracy benchmarks (timings always run alone)",
    )
    args = parser.parse_args(argv)
    chosen = list(SECTIONS) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    folder = RESULTS / "quick" if args.quick else RESULTS
    command = "python bench/run.py" + (" --quick" if args.quick else "")

    def run_section(name: str) -> bool:
        started = time.monotonic()
        print(f"== {name} ==", flush=True)
        try:
            repetitions, data = SECTIONS[name].run(args.quick, 1 if args.quick else args.jobs)
        except Exception:  # one broken benchmark must not lose the others' results
            traceback.print_exc()
            return False
        save(folder, name, command, repetitions, data)
        print(f"   {name}: {time.monotonic() - started:.0f} s", flush=True)
        return True

    failed = []
    if not args.render:
        # Timed runs go one at a time. A quick run only tests the harness (its numbers never
        # reach the README), so it runs two sections at once, each one simulation at a time.
        if args.quick:
            chosen.sort(key=lambda name: name != "flower")  # the longest first
        with ThreadPoolExecutor(max_workers=2 if args.quick else 1) as pool:
            outcomes = list(pool.map(run_section, chosen))
        failed = [name for name, ok in zip(chosen, outcomes, strict=True) if not ok]
    template = README.read_text(encoding="utf-8")
    text, missing = render_all(folder, template)
    target = folder / "README.md" if args.quick else README
    target.write_text(text, encoding="utf-8")
    print(f"Wrote {target}" + (f"; no results yet for {', '.join(missing)}" if missing else ""))
    if failed:
        sys.exit(f"benchmark(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
