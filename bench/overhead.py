"""4. Round overhead: wall time of a full federated round with 3, 10 and 30 hospitals, each a real
node process talking HTTP to a real server, secure and plain aggregation, split into the
hospitals' local work (reading the CSV and training, the slowest hospital) and everything else
(polling, the protocol's stages, aggregation, validation, deployment).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from fl_runs import Run, simulate
from harness import header

from medfed.node.state import NodeState

SIZES = (3, 10, 30)
DISEASE = "heart"
SPLIT = ("--split", "dirichlet:100")  # close to an even split: every hospital has both classes


def local_work(workdir: Path, hospitals: int) -> dict[int, float]:
    """For each round, the slowest hospital's reading + training seconds (from its own jobs)."""
    slowest: dict[int, float] = {}
    for index in range(hospitals):
        for job in NodeState(workdir / f"node-{index}").jobs():
            if not job.id.startswith("r") or not job.result:
                continue
            round_id = int(job.id[1:].split("-", 1)[0])
            seconds = job.result.get("seconds", {})
            work = float(seconds.get("reading", 0.0)) + float(seconds.get("training", 0.0))
            slowest[round_id] = max(slowest.get(round_id, 0.0), work)
    return slowest


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    rounds = 1 if quick else 5
    sizes = (3,) if quick else SIZES
    results = []
    with tempfile.TemporaryDirectory(prefix="medfed-bench-overhead-") as tmp:
        for hospitals in sizes:
            for secure in (True, False):
                spec = Run(DISEASE, str(hospitals), rounds, 0, secure=secure, options=SPLIT)
                result = simulate(spec, Path(tmp))  # alone: nothing else competes for the cores
                slowest = local_work(Path(tmp) / spec.name, hospitals)
                walls = [r["seconds"] for r in result["rounds"]]
                local = [slowest.get(r["round"], 0.0) for r in result["rounds"]]
                overheads = [w - t for w, t in zip(walls, local, strict=True)]
                results.append(
                    {
                        "hospitals": hospitals,
                        "secure": secure,
                        "round_s": statistics.median(walls),
                        "local_work_s": statistics.median(local),
                        "overhead_s": statistics.median(overheads),
                        "deployed": result["deployed"],
                        "rounds": rounds,
                    }
                )
    return rounds, {"disease": DISEASE, "results": results}


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        "Heart data split evenly over the hospitals; 5 local epochs, no DP. Every hospital is a "
        "separate node process on the same 2-core machine as the server, so local training of "
        "30 hospitals runs 15 to a core. Nodes poll every 0.3 s and the server moves rounds "
        "every 0.2 s, which sets a floor on the overhead. Median over rounds (repetitions).",
        "",
        "| hospitals | aggregation | round wall time (s) | local work, slowest hospital (s) | protocol and server overhead (s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in record["results"]:
        mode = "secure" if row["secure"] else "plain"
        lines.append(
            f"| {row['hospitals']} | {mode} | {row['round_s']:.1f} | {row['local_work_s']:.1f} | "
            f"{row['overhead_s']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "overhead"])
