"""`medfed simulate`: a federated run on public data, real server and nodes over HTTP."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from medfed.cli.context import console, settings_from
from medfed.core.errors import InvalidInput
from medfed.fl import promotion
from medfed.simulation.runner import Simulation, SimulationConfig

app = typer.Typer(
    help="Simulate hospitals on a public dataset: real server and node processes over HTTP.",
    invoke_without_command=True,
)


@app.callback()
def simulate(
    ctx: typer.Context,
    disease: Annotated[str, typer.Option(help="Which disease, e.g. heart.")] = "heart",
    hospitals: Annotated[
        str, typer.Option(help="'natural' (the dataset's own sites) or a number of hospitals.")
    ] = "natural",
    split: Annotated[
        str, typer.Option(help="How to split when --hospitals is a number, e.g. dirichlet:0.5.")
    ] = "dirichlet:0.5",
    rounds: Annotated[int, typer.Option(min=1, max=500)] = 15,
    strategy: Annotated[str, typer.Option(help="fedavg, fedprox, fedadam or fedyogi.")] = "fedavg",
    steps: Annotated[
        int,
        typer.Option(
            min=0,
            max=10000,
            help="Optimiser steps every hospital takes per round; 0: --epochs passes instead.",
        ),
    ] = 10,
    epochs: Annotated[
        int, typer.Option(min=1, max=100, help="Local epochs per round, with --steps 0.")
    ] = 5,
    public_holdout: Annotated[
        bool | None,
        typer.Option(
            "--public-holdout/--no-public-holdout",
            help="Keep the public held-out split out of every hospital and let the server weigh "
            "it as promotion evidence; default: on for --hospitals N, off for natural sites.",
        ),
    ] = None,
    metric: Annotated[
        str, typer.Option(help="The promotion rule's measure: brier, accuracy or roc_auc.")
    ] = "brier",
    learning_rate: Annotated[
        float | None,
        typer.Option(
            min=1e-5,
            max=10,
            help="The nodes' SGD step; default 0.05, or 0.2 for an MLP under DP-SGD.",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    validation_fraction: Annotated[
        float,
        typer.Option(
            min=0,
            max=0.5,
            help="Share of each hospital's rows kept back as promotion evidence; less trains "
            "a better line but promotes less often.",
        ),
    ] = 0.2,
    mu: Annotated[float, typer.Option(min=0, help="FedProx mu.")] = 0.01,
    server_learning_rate: Annotated[
        float | None,
        typer.Option(min=1e-6, max=10, help="Server learning rate for fedadam/fedyogi."),
    ] = None,
    epsilon: Annotated[
        float | None,
        typer.Option(
            min=0.01, help="DP: each hospital's total epsilon over all rounds; default off."
        ),
    ] = None,
    start: Annotated[
        str,
        typer.Option(
            help="'untrained' (fresh weights: what is learned comes from the rounds) or 'baseline'."
        ),
    ] = "untrained",
    tolerance: Annotated[
        float, typer.Option(min=0, help="Non-inferiority margin of the promotion rule.")
    ] = 0.01,
    confidence: Annotated[
        float,
        typer.Option(
            min=0.5,
            max=0.999,
            help="The promotion rule's two-sided level (0.90: a one-sided test at 5 %).",
        ),
    ] = promotion.DEFAULT_CONFIDENCE,
    plain: Annotated[
        bool, typer.Option("--plain", help="Plain aggregation (the server sees each update).")
    ] = False,
    homomorphic: Annotated[
        bool,
        typer.Option(
            "--homomorphic",
            help="CKKS homomorphic encryption instead of pairwise masking (keys made by the "
            "hospitals; the server adds ciphertexts).",
        ),
    ] = False,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of the hospital split and of each node's validation rows and training: a run repeats."
        ),
    ] = 0,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Where the server, nodes and logs live; default: a temp dir."),
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write the results as JSON here.")] = None,
) -> None:
    """Run ROUNDS federated rounds and print each round's metrics on the hospitals' test rows."""
    if hospitals != "natural" and not hospitals.isdigit():
        raise InvalidInput("--hospitals is 'natural' or a number, e.g. 10.", field="hospitals")
    if metric not in ("brier", "accuracy", "roc_auc"):
        raise InvalidInput("--metric is brier, accuracy or roc_auc.", field="metric")
    if start not in ("untrained", "baseline"):
        raise InvalidInput("--start is 'untrained' or 'baseline'.", field="start")
    settings = settings_from(ctx)
    folder = workdir or Path(tempfile.mkdtemp(prefix="medfed-simulation-"))
    config = SimulationConfig(
        disease=disease,
        workdir=folder.resolve(),
        datasets_dir=settings.datasets_dir.resolve(),
        hospitals=hospitals,
        split=split,
        rounds=rounds,
        strategy=strategy,
        local_epochs=epochs,
        local_steps=steps or None,
        metric=metric,
        public_holdout=public_holdout,
        learning_rate=learning_rate,
        batch_size=batch_size,
        proximal_mu=mu,
        validation_fraction=validation_fraction,
        epsilon=epsilon,
        start=start,
        tolerance=tolerance,
        confidence=confidence,
        secure=not plain,
        homomorphic=homomorphic,
        seed=seed,
        specs_dir=settings.disease_specs_dir.resolve() if settings.disease_specs_dir else None,
        strategy_options=(
            {"server_learning_rate": server_learning_rate} if server_learning_rate else {}
        ),
    )
    result = Simulation(config, say=lambda text: console.print(text, soft_wrap=True)).run()
    last = result.rounds[-1]
    console.print(
        f"\n{result.advanced} of {len(result.rounds)} rounds advanced the training line (to "
        f"{last.line_version}: combined accuracy {last.line_combined_accuracy:.3f}); "
        f"{result.deployed} promoted to doctors. Served {last.version}: mean per-hospital "
        f"accuracy {last.mean_site_accuracy:.3f}, combined {last.combined_accuracy:.3f} "
        f"(AUC {last.combined_auc:.3f})."
    )
    if output:
        output.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
