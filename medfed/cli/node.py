"""`medfed node`: the hospital agent, the only MedFed software that touches patient rows."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from medfed.cli import node_analytics, node_mapping, node_registry, node_rounds
from medfed.cli.context import console, settings_from
from medfed.core.catalog import get_disease
from medfed.core.errors import ConfigurationError, InvalidInput, MedFedError
from medfed.node import enroll as node_enroll
from medfed.node.contribute import contribute as send_contribution
from medfed.node.contribute import report_ledger
from medfed.node.credential import load_credential, require_credential
from medfed.node.intake import IntakeRefused, check_file
from medfed.node.mappings import load as load_mappings
from medfed.node.policy import LocalPolicy, load_policy, save_policy
from medfed.node.state import NodeState
from medfed.node.tls import certificate_expiry, client_for

if TYPE_CHECKING:
    from medfed.core.config import Settings
    from medfed.node.credential import NodeCredential
    from medfed.node.training import TrainRequest

Outcome = TypeVar("Outcome")

app = typer.Typer(
    help="Run the hospital node: the only MedFed software that touches patient rows.",
    no_args_is_help=True,
)
policy_app = typer.Typer(
    help="This hospital's own policy (it always wins over the server's).", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")
app.add_typer(node_rounds.app, name="rounds")
app.add_typer(node_registry.app, name="registry")
app.add_typer(node_analytics.app, name="analytics")
app.command()(node_rounds.participate)
app.command("map")(node_mapping.map_columns)

DEFAULT_MIN_ROWS = 200
DropColumn = Annotated[
    list[str] | None, typer.Option("--drop-column", help="Leave this column out (repeatable).")
]
SkipInvalid = Annotated[
    bool, typer.Option(help="Leave out rows with problems instead of refusing the file.")
]
Epochs = Annotated[int, typer.Option(min=1, max=1000)]
Epsilon = Annotated[
    float | None, typer.Option(min=0.01, help="DP target epsilon; default: the network's.")
]


@app.command()
def enroll(
    ctx: typer.Context,
    server: Annotated[str, typer.Option(help="The MedFed server, e.g. https://medfed.example.org")],
    token: Annotated[str, typer.Option(help="One-time enrollment token from the administrator.")],
    name: Annotated[
        str | None, typer.Option(help="A name for this node; default: host name.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing enrollment.")] = False,
    if_needed: Annotated[
        bool,
        typer.Option(
            "--if-needed", help="Do nothing if this node is already enrolled (containers)."
        ),
    ] = False,
) -> None:
    """Exchange a one-time token for this node's credential (stored 0600 in the node home)."""
    settings = settings_from(ctx)
    existing = load_credential(settings.node_home)
    if if_needed and existing is not None and not force:
        console.print(
            f"Already enrolled as node {existing.node_id} of {existing.hospital_name}; "
            "the token was not used."
        )
        return
    credential = node_enroll.enroll(settings.node_home, server, token, node_name=name, force=force)
    console.print(
        f"Enrolled as node {credential.node_id} of [bold]{credential.hospital_name}[/bold]; "
        f"credential saved under {settings.node_home}."
    )
    expiry = certificate_expiry(settings.node_home)
    if expiry is not None:
        console.print(
            f"Client certificate issued (valid until {expiry}; renewed automatically), and "
            "the network's certificate authority pinned from the token."
        )
    else:
        console.print(
            "[yellow]The token pinned no certificate authority: this node trusts the "
            "system's authorities and has no client certificate.[/yellow]"
        )


@app.command("renew-certificate")
def renew_certificate(ctx: typer.Context) -> None:
    """Get a new client certificate now (a running node renews on its own before expiry)."""
    settings = settings_from(ctx)
    expiry = node_enroll.renew_certificate(settings.node_home)
    console.print(f"New client certificate installed, valid until {expiry}.")


@app.command("set-credential")
def set_credential(ctx: typer.Context) -> None:
    """Install a credential the administrator rotated for this node (read from standard input,
    so it stays out of the shell history); the server must confirm it is this node's."""
    settings = settings_from(ctx)
    if sys.stdin.isatty():
        secret = typer.prompt("New node credential", hide_input=True)
    else:
        secret = sys.stdin.readline()
    credential = node_enroll.set_credential(settings.node_home, secret)
    console.print(
        f"New credential saved for node {credential.node_id} of {credential.hospital_name}; "
        "the server accepts it."
    )


@app.command()
def status(ctx: typer.Context) -> None:
    """Enrollment, server reachability, local policy and privacy budget spent."""
    settings = settings_from(ctx)
    result = node_enroll.status(settings.node_home)
    if not result.enrolled or result.credential is None:
        console.print("Not enrolled. Run `medfed node enroll --server URL --token TOKEN`.")
        raise typer.Exit(1)
    credential = result.credential
    console.print(
        f"Node {credential.node_id} of {credential.hospital_name} at {credential.server_url}"
    )
    policy = load_policy(settings.node_home)
    console.print(
        f"Local policy: diseases {policy.diseases or 'all'}, epsilon cap {policy.epsilon_cap or 'network default'}, "
        f"approval per round {'required' if policy.require_approval else 'not required'}"
    )
    state = NodeState(settings.node_home)
    for disease in sorted({entry.disease for entry in state.ledger()}):
        spent = state.spent(disease)
        console.print(
            f"Privacy spent on {disease}: epsilon {spent.epsilon:.3f}, delta {spent.delta:.1e}"
        )
    if result.server_error:
        console.print(f"[red]Server check failed:[/red] {result.server_error}")
        raise typer.Exit(1)
    expiry = certificate_expiry(settings.node_home)
    console.print(f"Client certificate: {f'valid until {expiry}' if expiry else 'none'}")
    console.print("[green]Server accepts this node's credential.[/green]")


@app.command()
def check(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file of patients.")],
    disease: Annotated[str, typer.Option(help="Which disease model the file is for.")],
    drop_column: DropColumn = None,
    skip_invalid_rows: SkipInvalid = False,
    min_rows: Annotated[
        int | None, typer.Option(help="Fewest rows needed; default: the network's policy.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Validate a CSV without sending anything anywhere: columns, ranges, identifiers, statistics."""
    spec = get_disease(disease)
    if min_rows is None:
        min_rows = _network_min_rows(settings_from(ctx).node_home)
    try:
        report = check_file(
            spec,
            file,
            drop_columns=set(drop_column or ()),
            min_rows=min_rows,
            skip_invalid_rows=skip_invalid_rows,
            mappings=load_mappings(settings_from(ctx).node_home),
        )
    except IntakeRefused as refused:
        console.print(f"[red]Refused:[/red] {refused}")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        table = Table("feature", "column", "present", "missing", "summary")
        for stats in report.columns.values():
            summary = stats.as_dict()
            text = (
                ", ".join(f"{k} {v}" for k, v in summary.get("counts", {}).items())
                if stats.kind == "category"
                else f"{summary.get('min', '')} to {summary.get('max', '')}, mean {summary.get('mean', '')}"
            )
            table.add_row(
                stats.label,
                report.matched.get(stats.feature, "-"),
                str(stats.present),
                str(stats.missing),
                text,
            )
        console.print(table)
        balance = (
            f"{report.positives / report.valid_rows:.1%} positive"
            if report.valid_rows
            else "no rows"
        )
        console.print(
            f"{report.valid_rows} usable rows of {report.rows}; {balance}; encoding {report.encoding}, "
            f"delimiter {report.delimiter!r}"
        )
        if report.mapping_saved:
            console.print("Columns read with the mapping saved for files of this shape.")
        for feature, conversion in report.conversions.items():
            console.print(f"Unit of {spec.feature(feature).label}: {conversion}")
        for note in report.notes:
            console.print(f"Note: {note}")
        if report.ignored_columns:
            console.print(f"Ignored columns (not used): {', '.join(report.ignored_columns)}")
        for problem in report.problems:
            console.print(f"  [yellow]{problem.describe()}[/yellow]")
    if not report.ok:
        console.print("[red]This file cannot be used:[/red]")
        for reason in report.blocking:
            console.print(f"  - {reason}")
        raise typer.Exit(1)
    console.print("[green]The file can be used for training.[/green]")


def _network_min_rows(node_home: Path) -> int:
    """The server's row minimum when this node is enrolled and the server answers; else 200."""
    credential = load_credential(node_home)
    if credential is not None:
        try:
            with client_for(node_home, credential) as client:
                return int(client.policy()["min_rows"])
        except MedFedError:
            pass
    console.print(
        "(Server policy not available: checking against the default minimum of 200 rows.)"
    )
    return DEFAULT_MIN_ROWS


def _with_progress(
    settings: Settings,
    credential: NodeCredential,
    request: TrainRequest,
    job: Callable[..., Outcome],
) -> Outcome:
    """Run a training job (`job(node_home, client, request, on_progress=...)`) with live bars."""
    with (
        client_for(settings.node_home, credential) as client,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as progress,
    ):
        reading = progress.add_task("Reading the file", total=None, loss="-")
        training = progress.add_task("Training", total=1, loss="-", visible=False)

        def on_progress(phase: str, done: int, total: int, loss: float) -> None:
            if phase == "reading":
                progress.update(
                    reading, completed=done, description=f"Reading the file ({done} rows)"
                )
            else:
                progress.update(reading, visible=False)
                progress.update(
                    training,
                    visible=True,
                    total=total,
                    completed=done,
                    loss="-" if math.isnan(loss) else f"{loss:.4f}",
                )

        return job(settings.node_home, client, request, on_progress=on_progress)


@app.command()
def train(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file of patients.")],
    disease: Annotated[str, typer.Option(help="Which disease model to train.")],
    drop_column: DropColumn = None,
    skip_invalid_rows: SkipInvalid = False,
    epochs: Epochs = 5,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    learning_rate: Annotated[
        float | None,
        typer.Option(
            min=1e-6, max=10, help="SGD step; default 0.05, or 0.2 for an MLP under DP-SGD."
        ),
    ] = None,
    mu: Annotated[float, typer.Option(min=0, help="FedProx proximal term; 0 is FedAvg.")] = 0.0,
    epsilon: Epsilon = None,
    no_dp: Annotated[
        bool,
        typer.Option(
            "--no-dp", help="Train without differential privacy (the ledger then refuses any cap)."
        ),
    ] = False,
) -> None:
    """Pull the global model, train on the file with DP-SGD, and keep the update for `contribute`."""
    settings = settings_from(ctx)
    credential = require_credential(settings.node_home)
    from medfed.node.training import TrainRequest, run_training  # loads PyTorch

    request = TrainRequest(
        disease=disease,
        path=file,
        drop_columns=frozenset(drop_column or ()),
        skip_invalid_rows=skip_invalid_rows,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        proximal_mu=mu,
        target_epsilon=epsilon,
        no_dp=no_dp,
    )
    result = _with_progress(settings, credential, request, run_training)
    table = Table(
        "metric (local validation)", f"global {result.base_version}", "after local training"
    )
    for metric in ("accuracy", "roc_auc", "f1", "brier"):
        table.add_row(
            metric,
            str(result.metrics["global"].get(metric)),
            str(result.metrics["local"].get(metric)),
        )
    console.print(table)
    spent = (
        "no DP"
        if result.epsilon is None
        else f"epsilon {result.epsilon:.3f}, delta {result.delta:.1e}"
    )
    console.print(
        f"Job {result.job_id}: {result.rows_train} training rows, {result.rows_validation} validation rows, {spent}."
    )
    console.print("Send the update with `medfed node contribute`.")


@app.command()
def personalise(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file of this hospital's patients.")],
    disease: Annotated[str, typer.Option(help="Which disease model to fine-tune.")],
    drop_column: DropColumn = None,
    skip_invalid_rows: SkipInvalid = False,
    epochs: Epochs = 5,
    epsilon: Epsilon = None,
) -> None:
    """Fetch the network's served model and fine-tune this hospital's own copy with DP-SGD; keep
    both here, scored on the same local validation rows (nothing is sent)."""
    settings = settings_from(ctx)
    credential = require_credential(settings.node_home)
    from medfed.node.personalise import personalise as fine_tune  # loads PyTorch
    from medfed.node.training import TrainRequest

    request = TrainRequest(
        disease=disease,
        path=file,
        drop_columns=frozenset(drop_column or ()),
        skip_invalid_rows=skip_invalid_rows,
        epochs=epochs,
        target_epsilon=epsilon,
    )
    served, own = _with_progress(settings, credential, request, fine_tune)
    table = Table("on local validation rows", f"network's {served.version}", "this hospital's own")
    for metric in ("rows", "accuracy", "roc_auc", "brier"):
        table.add_row(metric, str(served.metrics.get(metric)), str(own.metrics.get(metric)))
    console.print(table)
    console.print(
        f"Kept both in {settings.node_home / 'models' / disease} (fine-tuning: epsilon "
        f"{own.epsilon:.3f}). Predict with `medfed node predict --disease {disease} ...`."
        if own.epsilon is not None
        else f"Kept both in {settings.node_home / 'models' / disease}."
    )


@app.command()
def predict(
    ctx: typer.Context,
    disease: Annotated[
        str | None, typer.Option(help="Which disease (not needed with --patient).")
    ] = None,
    secure_id: Annotated[
        str | None,
        typer.Option(
            "--patient", help="A registered patient's secure ID: score an admission's diagnoses."
        ),
    ] = None,
    admission: Annotated[
        str | None, typer.Option(help="With --patient: which admission (default: the latest).")
    ] = None,
    value: Annotated[
        list[str] | None,
        typer.Option("--value", help="An input as name=value, e.g. age=63 (repeatable)."),
    ] = None,
    patient_json: Annotated[
        str | None, typer.Option("--json", help="All inputs as one JSON object.")
    ] = None,
) -> None:
    """Predict with both models this node holds, side by side; nothing leaves the node."""
    from medfed.node.local_predict import predict_admission, predict_both  # loads the models

    node_home = settings_from(ctx).node_home
    if secure_id is not None:
        if value or patient_json:
            raise InvalidInput(
                "--patient takes the inputs from the registry: leave out --value and --json",
                field="patient",
            )
        answer = predict_admission(node_home, secure_id, admission)
        found = answer["admission"]
        console.print(
            f"{answer['secure_id']}, admission {found['hadm_id']}: "
            f"{found['inputs']['diagnosis_count']} diagnoses, Charlson conditions: "
            + (", ".join(f"{c['label']} ({c['codes']})" for c in found["conditions"]) or "none")
        )
        for note in found["notes"]:
            console.print(f"  [yellow]{note}[/yellow]")
        _print_answer(answer)
        return
    if disease is None:
        raise InvalidInput(
            "Say which model: --disease NAME, or --patient SECURE_ID", field="disease"
        )
    patient: dict[str, object] = {}
    if patient_json:
        try:
            loaded = json.loads(patient_json)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"--json is not valid JSON: {exc.msg}", field="json") from None
        if not isinstance(loaded, dict):
            raise InvalidInput("--json must be an object of inputs", field="json")
        patient.update(loaded)
    for item in value or []:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--value {item!r} must be name=value, e.g. age=63", field="value")
        patient[name.strip()] = raw
    _print_answer(predict_both(node_home, disease, patient))


def _print_answer(answer: dict[str, Any]) -> None:
    for model in answer["answers"]:
        who = "network's" if model["kind"] == "global" else "this hospital's own"
        if model["classes"]:
            chances = ", ".join(f"{label} {p:.0%}" for label, p in model["classes"].items())
            console.print(
                f"[bold]{who} model {model['version']}[/bold]: {model['band_title']} ({chances})"
            )
        else:
            console.print(
                f"[bold]{who} model {model['version']}[/bold]: {model['probability']:.1%}, "
                f"{model['band_title']}"
            )
        for factor in model["factors"]:
            console.print(f"  - {factor}")
    console.print(answer["comparison"])


@app.command()
def report(ctx: typer.Context) -> None:
    """Tell the network this node's software version and, if the local policy shares them, its
    registry counts and the models it holds (what `medfed node participate` does hourly)."""
    from medfed.node.inventory import report as send_report

    settings = settings_from(ctx)
    credential = require_credential(settings.node_home)
    with client_for(settings.node_home, credential) as client:
        sent = send_report(settings.node_home, client)
    if sent["registry"] is None and not sent["models"]:
        console.print(f"Reported software {sent['software_version']} (nothing else to share).")
        return
    counts = sent["registry"] or {}
    console.print(
        f"Reported software {sent['software_version']}, "
        f"{counts.get('patients', 0)} patients / {counts.get('admissions', 0)} admissions / "
        f"{counts.get('diagnoses', 0)} diagnoses registered, {len(sent['models'])} models held."
    )


@app.command()
def models(ctx: typer.Context) -> None:
    """The models this node holds, with their scores on its own validation rows."""
    from medfed.node.held_models import held

    found = held(settings_from(ctx).node_home)
    if not found:
        console.print("No models held yet: `medfed node personalise FILE --disease D`.")
        return
    table = Table("disease", "model", "version", "kept", "rows", "AUC", "Brier", "epsilon")
    for m in found:
        table.add_row(
            m.disease,
            "network's" if m.kind == "global" else "own",
            m.version,
            m.kept_at[:16],
            str(m.metrics.get("rows", "")),
            str(m.metrics.get("roc_auc", "")),
            str(m.metrics.get("brier", "")),
            "" if m.epsilon is None else f"{m.epsilon:.3f}",
        )
    console.print(table)


@app.command()
def contribute(
    ctx: typer.Context,
    job: Annotated[
        str | None, typer.Option(help="Job id; default: the latest trained job.")
    ] = None,
) -> None:
    """Send a trained job's update (and the privacy ledger's numbers) to the server."""
    settings = settings_from(ctx)
    credential = require_credential(settings.node_home)
    with client_for(settings.node_home, credential) as client:
        answer = send_contribution(settings.node_home, client, job)
    console.print(
        f"Contribution {answer['id']} accepted for {answer['disease']} ({answer['rows']} rows)."
    )
    if answer.get("message"):
        console.print(answer["message"])


@app.command()
def jobs(ctx: typer.Context) -> None:
    """This node's training jobs."""
    settings = settings_from(ctx)
    table = Table("job", "disease", "status", "created", "epsilon", "rows")
    for job in NodeState(settings.node_home).jobs():
        result = job.result or {}
        table.add_row(
            job.id,
            job.disease,
            job.status,
            job.created_at[:19],
            str(result.get("epsilon", "")),
            str(result.get("rows_train", "")),
        )
    console.print(table)


@app.command()
def ledger(
    ctx: typer.Context,
    sync: Annotated[bool, typer.Option(help="Report unreported entries to the server.")] = False,
) -> None:
    """The privacy ledger: every contribution's epsilon and delta."""
    settings = settings_from(ctx)
    state = NodeState(settings.node_home)
    if sync:
        credential = require_credential(settings.node_home)
        with client_for(settings.node_home, credential) as client:
            console.print(f"Reported {report_ledger(state, client)} entries.")
    table = Table("disease", "epsilon", "delta", "rows", "job", "recorded", "reported")
    for entry in state.ledger():
        table.add_row(
            entry.disease,
            f"{entry.epsilon:.4f}",
            f"{entry.delta:.1e}",
            str(entry.rows),
            entry.job_id,
            entry.recorded_at[:19],
            (entry.reported_at or "")[:19],
        )
    console.print(table)


@policy_app.command("show")
def policy_show(ctx: typer.Context) -> None:
    """The local policy in force."""
    console.print(load_policy(settings_from(ctx).node_home).model_dump())


def _listed(text: str | None, current: list[str] | None) -> list[str] | None:
    """A comma-separated option: unchanged when not given, None (all) for 'all'."""
    if text is None:
        return current
    return None if text == "all" else [part.strip() for part in text.split(",") if part.strip()]


@policy_app.command("set")
def policy_set(
    ctx: typer.Context,
    diseases: Annotated[
        str | None,
        typer.Option(help="Comma-separated diseases this hospital trains; 'all' for all."),
    ] = None,
    epsilon_cap: Annotated[
        float | None,
        typer.Option(min=0.01, help="This hospital's own total epsilon cap per disease."),
    ] = None,
    require_approval: Annotated[
        bool | None, typer.Option(help="Each round needs a person's approval here.")
    ] = None,
    share_inventory: Annotated[
        bool | None,
        typer.Option(
            help="Tell the network registry counts (never records) and the models held here."
        ),
    ] = None,
    analytics_kinds: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated analytics queries answered here (count, prevalence, mean, "
            "histogram, quantiles, missing); 'all' for all."
        ),
    ] = None,
    analytics_epsilon_cap: Annotated[
        float | None,
        typer.Option(min=0.01, help="Total epsilon per disease spent on analytics (apart)."),
    ] = None,
    analytics_min_cell: Annotated[
        int | None,
        typer.Option(min=10, help="Withhold analytics cells with fewer rows (at least 10)."),
    ] = None,
    analytics_per_site: Annotated[
        bool | None, typer.Option(help="Allow this hospital's own noisy figures by name.")
    ] = None,
    analytics_approval: Annotated[
        bool | None, typer.Option(help="Each analytics query needs a person's approval here.")
    ] = None,
) -> None:
    """Change the local policy; unspecified parts stay as they are."""
    node_home = settings_from(ctx).node_home
    current = load_policy(node_home)
    from medfed.analytics.query import KINDS

    kinds = _listed(analytics_kinds, current.analytics_kinds)
    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        raise InvalidInput(
            f"Unknown analytics kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}.",
            field="analytics_kinds",
        )
    given = {
        "epsilon_cap": epsilon_cap,
        "require_approval": require_approval,
        "share_inventory": share_inventory,
        "analytics_epsilon_cap": analytics_epsilon_cap,
        "analytics_min_cell": analytics_min_cell,
        "analytics_per_site": analytics_per_site,
        "analytics_approval": analytics_approval,
    }
    updated = LocalPolicy.model_validate(
        {
            **current.model_dump(),
            **{name: value for name, value in given.items() if value is not None},
            "diseases": _listed(diseases, current.diseases),
            "analytics_kinds": kinds,
        }
    )
    path = save_policy(node_home, updated)
    console.print(f"Saved {path}: {updated.model_dump()}")


@app.command()
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8700,
    host: Annotated[
        str, typer.Option(help="Must be a loopback address: the node opens no port to the network.")
    ] = "127.0.0.1",
) -> None:
    """Serve the node's local API on this machine only."""
    import uvicorn

    from medfed.node.client import _is_loopback
    from medfed.node.local_api import create_local_app

    if not _is_loopback(host):
        raise ConfigurationError(
            "The node serves on loopback only (127.0.0.1 or ::1): hospitals open no inbound ports."
        )
    settings = settings_from(ctx)
    console.print(f"Node page and API on http://{host}:{port} (this machine only)")
    uvicorn.run(create_local_app(settings), host=host, port=port, log_level="warning")
