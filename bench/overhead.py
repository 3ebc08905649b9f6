"""4. Round overhead: wall time of a full federated round with 3, 10 and 30 hospitals, each a real
node process talking HTTP to a real server, secure and plain aggregation, split into the
hospitals' local work (reading the CSV and training, the slowest hospital) and everything else
(polling, the protocol's stages, aggregation, validation, deployment).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import flower_deploy
from fl_runs import Run, simulate
from harness import header

from medfed.node.state import NodeState

SIZES = (3, 10, 30)
FLOWER_SIZES = (3, 10)
CORES = os.cpu_count() or 1
DISEASE = "heart"
SPLIT = ("--split", "dirichlet:100")  # close to an even split: every hospital has both classes


def local_work(workdir: Path, hospitals: int) -> dict[int, list[float]]:
    """For each round, every hospital's reading + training seconds (from its own jobs)."""
    work: dict[int, list[float]] = {}
    for index in range(hospitals):
        for job in NodeState(workdir / f"node-{index}").jobs():
            if not job.id.startswith("r") or not job.result:
                continue
            round_id = int(job.id[1:].split("-", 1)[0])
            seconds = job.result.get("seconds", {})
            spent = float(seconds.get("reading", 0.0)) + float(seconds.get("training", 0.0))
            work.setdefault(round_id, []).append(spent)
    return work


def floor(works: list[float], cores: int) -> float:
    """The least wall time the hospitals' local work needs here: the slowest hospital, or all
    of it shared over this machine's cores, whichever is longer (on a real network each
    hospital trains on its own machine, and only the first term applies)."""
    return max(max(works, default=0.0), sum(works) / cores)


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    rounds = 1 if quick else 6  # the first of several is left out (start-up)
    sizes = (3,) if quick else SIZES
    results = []
    with tempfile.TemporaryDirectory(prefix="medfed-bench-overhead-") as tmp:
        for hospitals in sizes:
            for secure in (True,) if quick else (True, False):  # quick: the harness only
                spec = Run(DISEASE, str(hospitals), rounds, 0, secure=secure, options=SPLIT)
                result = simulate(spec, Path(tmp))  # alone: nothing else competes for the cores
                work = local_work(Path(tmp) / spec.name, hospitals)
                kept = result["rounds"][1:] if len(result["rounds"]) > 1 else result["rounds"]
                walls = [r["seconds"] for r in kept]
                per_round = [work.get(r["round"], []) for r in kept]
                local = [max(w, default=0.0) for w in per_round]
                shared = [floor(w, CORES) for w in per_round]
                overheads = [w - t for w, t in zip(walls, shared, strict=True)]
                results.append(
                    {
                        "hospitals": hospitals,
                        "secure": secure,
                        "round_s": statistics.median(walls),
                        "local_work_s": statistics.median(local),
                        "local_floor_s": statistics.median(shared),
                        "overhead_s": statistics.median(overheads),
                        "deployed": result["deployed"],
                        "rounds": len(kept),
                    }
                )
    # Flower's deployment engine, the fairer peer for real processes over a network.
    flower = [
        {"hospitals": n, **flower_deploy.round_seconds(n, 3 if quick else 7)}
        for n in ((3,) if quick else FLOWER_SIZES)
    ]
    return rounds, {"disease": DISEASE, "results": results, "flower_deployment": flower}


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        "Heart data split evenly over the hospitals; the simulation's default local training, "
        "no DP. Every hospital is a separate node process on the same 2-core machine as the "
        "server. Nodes long-poll; each round step ends on its last message. Round wall time is "
        "the server's, from the previous round's end (the first round, which includes start-up, "
        "is left out when there are more). The local work floor is the slowest hospital's "
        "reading and training, or all hospitals' shared over the cores if that is longer: 10 "
        "hospitals training at once on 2 cores take five times one hospital's time, which a "
        "real network (a machine per hospital) does not. Overhead is wall time minus that "
        "floor. Median over rounds (repetitions).",
        "",
        "| hospitals | aggregation | round wall time (s) | local work, slowest hospital (s) | local work floor on 2 cores (s) | protocol and server overhead (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in record["results"]:
        mode = "secure" if row["secure"] else "plain"
        lines.append(
            f"| {row['hospitals']} | {mode} | {row['round_s']:.2f} | {row['local_work_s']:.2f} | "
            f"{row.get('local_floor_s', row['local_work_s']):.2f} | {row['overhead_s']:.2f} |"
        )
    flower = record.get("flower_deployment", [])
    for row in flower:
        wall = f"{row['round_s']:.2f}" if "round_s" in row else "-"
        lines.append(
            f"| {row['hospitals']} | Flower deployment engine, plain | {wall} | - | - | - |"
        )
    if flower:
        lines += ["", _flower_note(record)]
    if any(row["overhead_s"] < 0 for row in record["results"]):
        lines += [
            "",
            "A negative overhead means the floor overstates the local work: it sums the "
            "hospitals' own timings, which include the time each waited for a core while "
            "they all shared two, so the round ended sooner than that estimate.",
        ]
    return "\n".join(lines)


def _flower_note(record: dict[str, Any]) -> str:
    """What the Flower rows are, and how MedFed's secure rounds compare at the same size."""
    secure = {r["hospitals"]: r["round_s"] for r in record["results"] if r["secure"]}
    ratios = [
        f"{r['round_s'] / secure[r['hospitals']]:.1f} times as fast at {r['hospitals']} hospitals"
        for r in record["flower_deployment"]
        if "round_s" in r and secure.get(r["hospitals"])
    ]
    failed = [
        f"{r['hospitals']}: {r['error']}" for r in record["flower_deployment"] if "error" in r
    ]
    return (
        "Flower rows: flwr 1.18.0's deployment engine, one SuperLink and one SuperNode per "
        "hospital as separate processes over gRPC on loopback (insecure), running a "
        "24-parameter FedAvg whose client work takes a few milliseconds "
        "(`bench/flower_deployment/`); seconds between consecutive aggregations, median over "
        "rounds, without secure aggregation. Its SuperNodes and ServerApp pull for work on "
        "fixed intervals and it starts a process per message. MedFed, with secure "
        "aggregation on: "
        + (" and ".join(ratios) if ratios else "not comparable in this run")
        + "."
        + (f" Not measured: {'; '.join(failed)}." if failed else "")
    )


if __name__ == "__main__":
    from run import main

    main(["--only", "overhead"])
