"""The fengqiao command line: demo, train, score, publish, serve."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.errors import UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="fengqiao: grade disputes 高/中/低 and map hotspots.",
)
console = Console(stderr=True)

# Prefect's 20-second default for its local server to start is too short on a busy 2-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

Home = Annotated[Path | None, typer.Option(help="data folder (default: $FENGQIAO_HOME or ./data)")]
Cases = Annotated[
    list[str],
    typer.Option(
        "--cases",
        help="an export (CSV, .xlsx or Parquet); repeat it for several sources, each as "
        "FILE or FILE:MAPPING.yaml",
    ),
]
Mapping = Annotated[Path | None, typer.Option(help="YAML column mapping for this centre's export")]
Boundaries = Annotated[
    Path | None,
    typer.Option(help="GeoJSON of the centre's own polygons to map hotspots on (default: H3)"),
]
BoundaryId = Annotated[str, typer.Option(help="the boundary polygons' name property")]


# Set by main(): the process is the command's own, not a test's or a notebook's.
_OWN_PROCESS = False


@contextmanager
def _heavy_imports():
    """Import a command's modules (Prefect, MLflow, scikit-learn, pandas: a few hundred thousand
    objects that live as long as the process) without Python's cyclic garbage collector, then
    freeze them out of its later passes.

    On a 125-case night the collector walked them for 0.7 s during the imports, 0.5 s during the
    flow, and 1.2 s in its last pass at exit. Only in fengqiao's own process: frozen objects are
    never collected, which a test's or a notebook's process should not inherit."""
    if not _OWN_PROCESS:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _expected_errors() -> tuple[type[BaseException], ...]:
    from pipelines.catalog import ChampionMissing, TrackingStoreError
    from pipelines.config import ConfigError
    from pipelines.ingest import InputError, MappingError
    from pipelines.publish import OutputError

    return (
        InputError,
        MappingError,
        ConfigError,
        ChampionMissing,
        TrackingStoreError,
        OutputError,
        FileNotFoundError,
        UsageError,
    )


class _NoTracebackForExpectedErrors(logging.Filter):
    """Prefect logs a failed task's traceback; for problems a person must fix, the message is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], _expected_errors()):
            record.exc_info, record.exc_text = None, None
        return True


def _quiet_expected_tracebacks() -> None:
    quiet = _NoTracebackForExpectedErrors()
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    for handler in {h for logger in loggers for h in getattr(logger, "handlers", [])}:
        if not any(isinstance(f, _NoTracebackForExpectedErrors) for f in handler.filters):
            handler.addFilter(quiet)


EXIT_USAGE, EXIT_BUG = 2, 1


def _run(action, home: str | None):
    """Run an action of a command given the data folder home. A problem a person must fix ends
    with its message and exit code 2; anything else is a bug: a short message, the traceback in a
    log file under home (None: FENGQIAO_HOME or ./data), exit code 1."""
    _quiet_expected_tracebacks()
    try:
        return action()
    except _expected_errors() as error:
        console.print(f"[bold red]fengqiao:[/] {error}")
        raise typer.Exit(code=EXIT_USAGE) from None
    except Exception as error:
        log = _log_traceback(error, home)
        console.print(
            f"[bold red]fengqiao: an unexpected error[/] ({type(error).__name__}), which is a bug "
            f"in fengqiao, not a problem with the input. The traceback is in {log}; please "
            "report it with that file."
        )
        raise typer.Exit(code=EXIT_BUG) from None


def _by_hand(call):
    """Return call, run as a flow started by hand: without Prefect's flow-run heartbeats, unless
    the operator set their frequency.

    Heartbeats (every 180 s) exist for an automation that marks a run crashed when they stop;
    fengqiao configures none, and a command run by hand is watched by its own exit code and log.
    Yet each run ends by waiting for the heartbeat thread's one-second sleep: half a second of a
    small night, on average. Deployments started by `fengqiao serve` keep their heartbeats."""

    def run():
        from prefect.settings import (
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
            get_current_settings,
            temporary_settings,
        )

        if "heartbeat_frequency" in get_current_settings().flows.model_fields_set:
            return call()
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            return call()

    return run


def _log_traceback(error: BaseException, home: str | None) -> Path:
    """Write an unexpected error's traceback under DATA/logs (or the temp folder); return the file."""
    import datetime as dt
    import tempfile
    import traceback

    from pipelines.catalog import logs_dir
    from pipelines.config import Settings

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = "".join(traceback.format_exception(error))
    try:
        folders = [logs_dir(Settings.at(home).home)]
    except Exception:  # the settings themselves may be what failed
        folders = []
    for folder in [*folders, Path(tempfile.gettempdir())]:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"fengqiao-error-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path.resolve()
        except OSError:
            continue
    return Path("(not written)")


def _home(home: Path | None) -> str | None:
    return str(home) if home is not None else None


def _check_settings(home: str | None) -> None:
    from pipelines.config import Settings

    settings = Settings.at(home)
    settings.secret()  # production refuses to start without a real site secret


def _check_input(cases: list[str], mapping: Path | None) -> None:
    """Fail fast, before any flow starts, on the problems a person must fix in a file or mapping."""
    from pipelines.ingest import export_specs, load_mapping
    from pipelines.ingest.mapping import resolve_columns
    from pipelines.ingest.readers import read_header

    for path, own in export_specs(cases, str(mapping) if mapping else None):
        spec = load_mapping(own)
        resolve_columns(read_header(path, spec.sheet, spec.encoding), spec, str(path))


def _check_champion(home: str | None, model_name: str | None) -> None:
    from models.promotion import registered_name
    from pipelines.catalog import aliased_version, connect
    from pipelines.config import Settings

    settings = Settings.at(home)
    connect(settings, must_exist=True)
    name, _, alias = (model_name or registered_name("risk_grade")).partition("@")
    aliased_version(name, alias or "champion")


def _check_date(date: str | None) -> None:
    import datetime as dt

    if date is None:
        return
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise UsageError(f"--date {date!r} is not a date; write it as 2025-12-31") from None


def _check_output(out: Path | None, home: str | None) -> None:
    from pipelines.catalog import outputs_root
    from pipelines.config import Settings
    from pipelines.publish import OutputError

    folder = outputs_root(Settings.at(home), out)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"cannot write the output folder {folder}: {probe} is a file")
    if not os.access(probe, os.W_OK):
        raise OutputError(f"cannot write the output folder {folder}: {probe} is not writable")


@app.command()
def demo(
    cases: Annotated[int, typer.Option("--cases", "-n", help="cases in the demo year")] = 45_000,
    seed: Annotated[int, typer.Option(help="seed; it fixes everything")] = 20251231,
    home: Home = None,
) -> None:
    """Generate the demo city, train and register a model, score the latest day and publish it."""
    with _heavy_imports():
        from pipelines.flows import demo_flow

    home = _home(home)
    _run(lambda: _check_settings(home), home)
    console.print("[bold]fengqiao demo[/]: generating the city, training, scoring, publishing…")
    result = _run(_by_hand(lambda: demo_flow(n_cases=cases, seed=seed, home=home)), home)
    _print_train(result["train"])
    _print_outputs(result["score"])


@app.command()
def train(
    cases: Cases,
    mapping: Mapping = None,
    target: Annotated[
        str, typer.Option(help="label column: risk_grade, dispute_type, or a mapped label")
    ] = "risk_grade",
    model_name: Annotated[str | None, typer.Option(help="registered model name")] = None,
    oracle: Annotated[
        Path | None, typer.Option(help="demo only: true probabilities, for the gap to the oracle")
    ] = None,
    backtest: Annotated[
        bool, typer.Option(help="run the rolling-origin backtest with baselines")
    ] = True,
    into_store: Annotated[
        bool, typer.Option(help="also load these cases into the history store")
    ] = False,
    red_capacity: Annotated[
        int | None, typer.Option(help="red tickets a day the centre can handle (capacity rule)")
    ] = None,
    executor: Annotated[
        str, typer.Option(help="local, or dask to train the boosters with lightgbm.dask")
    ] = "local",
    dask_address: Annotated[
        str | None, typer.Option(help="scheduler of an existing Dask cluster")
    ] = None,
    home: Home = None,
) -> None:
    """Train, backtest and register a grader; promote it if it beats the champion."""
    with _heavy_imports():
        from pipelines.flows import train_flow

    home = _home(home)
    _run(lambda: _check_settings(home), home)
    _run(lambda: _check_input(cases, mapping), home)
    console.print("[bold]fengqiao train[/]: backtesting and training…")
    result = _run(
        _by_hand(
            lambda: train_flow(
                cases=list(cases),
                mapping=str(mapping) if mapping else None,
                target=target,
                model_name=model_name,
                oracle=str(oracle) if oracle else None,
                backtest=backtest,
                into_store=into_store,
                red_capacity=red_capacity,
                home=home,
                dask_address=(dask_address or "local") if executor == "dask" else None,
            )
        ),
        home,
    )
    _print_train(result)


@app.command()
def score(
    cases: Cases,
    mapping: Mapping = None,
    date: Annotated[
        str | None, typer.Option(help="run date D (default: the latest report in the file)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default: DATA/outputs)")] = None,
    model_name: Annotated[
        str | None,
        typer.Option(
            help="registered model name, NAME or NAME@ALIAS (default: the risk grader's champion)"
        ),
    ] = None,
    executor: Annotated[str, typer.Option(help="local or dask")] = "local",
    dask_address: Annotated[
        str | None, typer.Option(help="scheduler address of an existing Dask cluster")
    ] = None,
    partitions: Annotated[
        int | None, typer.Option(help="scoring partitions (default: 1 local, 2 per Dask worker)")
    ] = None,
    coordinates: Annotated[str, typer.Option(help="feed coordinates: wgs84 or gcj02")] = "wgs84",
    tiles: Annotated[
        str | None, typer.Option(help="base-tile URL template for map.html (default: no tiles)")
    ] = None,
    boundaries: Boundaries = None,
    boundary_id: BoundaryId = "name",
    home: Home = None,
) -> None:
    """Score every row of an export with the champion model and publish day D."""
    with _heavy_imports():
        from pipelines.flows import score_flow

    home = _home(home)
    _run(lambda: _check_settings(home), home)
    _run(lambda: _check_input(cases, mapping), home)
    _run(lambda: _check_date(date), home)
    _run(lambda: _check_champion(home, model_name), home)
    _run(lambda: _check_output(out, home), home)
    if coordinates not in ("wgs84", "gcj02"):
        console.print("[bold red]fengqiao:[/] --coordinates must be wgs84 or gcj02")
        raise typer.Exit(code=2)
    flow_fn, n = score_flow, partitions or 1
    if executor == "dask":
        from prefect_dask import DaskTaskRunner

        runner = (
            DaskTaskRunner(address=dask_address)
            if dask_address
            else DaskTaskRunner(
                cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True}
            )
        )
        flow_fn, n = score_flow.with_options(task_runner=runner), partitions or 4
    elif executor != "local":
        console.print("[bold red]fengqiao:[/] --executor must be local or dask")
        raise typer.Exit(code=2)
    console.print("[bold]fengqiao score[/]: scoring and publishing…")
    result = _run(
        _by_hand(
            lambda: flow_fn(
                cases=list(cases),
                mapping=str(mapping) if mapping else None,
                date=date,
                out=str(out) if out else None,
                model_name=model_name,
                partitions=n,
                coordinates=coordinates,
                tiles=tiles,
                home=home,
                boundaries=str(boundaries) if boundaries else None,
                boundary_id=boundary_id,
            )
        ),
        home,
    )
    _print_outputs(result)


@app.command()
def publish(
    date: Annotated[str, typer.Option(help="the scored day D to publish again")],
    out: Annotated[Path | None, typer.Option(help="output folder (default: DATA/outputs)")] = None,
    coordinates: Annotated[str, typer.Option(help="feed coordinates: wgs84 or gcj02")] = "wgs84",
    tiles: Annotated[str | None, typer.Option(help="base-tile URL template for map.html")] = None,
    boundaries: Boundaries = None,
    boundary_id: BoundaryId = "name",
    model_name: Annotated[
        str | None, typer.Option(help="the model whose scoring to publish (default: risk grader)")
    ] = None,
    home: Home = None,
) -> None:
    """Publish an already scored day again (e.g. with GCJ-02 coordinates, base tiles, own polygons)."""
    with _heavy_imports():
        from pipelines.flows import publish_flow

    home = _home(home)
    _run(lambda: _check_date(date), home)
    _run(lambda: _check_output(out, home), home)
    folder = _run(
        _by_hand(
            lambda: publish_flow(
                date=date,
                out=str(out) if out else None,
                coordinates=coordinates,
                tiles=tiles,
                home=home,
                boundaries=str(boundaries) if boundaries else None,
                boundary_id=boundary_id,
                model_name=model_name.partition("@")[0] if model_name else None,
            )
        ),
        home,
    )
    console.print(f"published {folder}")


@app.command()
def report(
    date: Annotated[str, typer.Option(help="the last day of the period")],
    period: Annotated[str, typer.Option(help="周报 (7 days) or 月报 (30 days)")] = "周报",
    out: Annotated[Path | None, typer.Option(help="folder (default: DATA/outputs/reports)")] = None,
    home: Home = None,
) -> None:
    """Write the weekly or monthly 稳定专报 from the days scored in the period."""
    with _heavy_imports():
        from pipelines.flows import report_flow
        from pipelines.publish.report import PERIOD_DAYS

    if period not in PERIOD_DAYS:
        console.print(f"[bold red]fengqiao:[/] --period must be one of {list(PERIOD_DAYS)}")
        raise typer.Exit(code=2)
    home = _home(home)
    _run(lambda: _check_date(date), home)
    path = _run(
        _by_hand(
            lambda: report_flow(date=date, period=period, out=str(out) if out else None, home=home)
        ),
        home,
    )
    print(path)


class _CancelledAtStop(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        import asyncio

        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


@app.command()
def serve(
    inbox: Annotated[
        Path, typer.Option(help="folder where the centre's system drops each day's export")
    ],
    pattern: Annotated[
        str, typer.Option(help="export file name; {date} is replaced by YYYY-MM-DD")
    ] = "{date}.csv",
    mapping: Mapping = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default: DATA/outputs)")] = None,
    nightly: Annotated[
        str, typer.Option(help="time of the nightly scoring, HH:MM Asia/Shanghai")
    ] = "02:00",
    port: Annotated[
        int, typer.Option(help="port of the local Prefect server, when PREFECT_API_URL is unset")
    ] = 4200,
    home: Home = None,
) -> None:
    """Serve the nightly scoring (02:00) and the monthly retrain (1st, 03:00), Asia/Shanghai time.

    Schedules need a real Prefect server: the one PREFECT_API_URL names, else one started here on
    127.0.0.1:PORT (database DATA/prefect/, UI at http://127.0.0.1:PORT) and stopped with serve.
    """
    import re
    from contextlib import ExitStack, suppress

    from pipelines.config import Settings
    from pipelines.server import prefect_server

    home = _home(home)
    _run(lambda: _check_settings(home), home)
    _run(lambda: _check_champion(home, None), home)
    at = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", nightly)
    if not at:
        console.print(f"[bold red]fengqiao:[/] --nightly must be HH:MM (24-hour), not {nightly!r}")
        raise typer.Exit(code=EXIT_USAGE)

    # Prefect's runner handles Ctrl-C and SIGTERM (systemd's stop) by pausing the deployments and
    # exiting; the local server is stopped on the way out. Its exit from inside the event loop
    # leaves a cancelled control-channel task that asyncio would log with a traceback, and an
    # un-awaited coroutine warning: noise of a clean stop, not errors.
    logging.getLogger("asyncio").addFilter(_CancelledAtStop())
    warnings.filterwarnings("ignore", "coroutine 'Runner.astop' was never awaited", RuntimeWarning)
    # Until the runner installs its own handler, SIGTERM stops serve as Ctrl-C does: the default
    # would kill the process on the spot and leave the local server running.
    _stop_on_sigterm()
    with suppress(KeyboardInterrupt), ExitStack() as stack:
        server = prefect_server(Settings.at(home).home, port or None)
        api_url = _run(lambda: stack.enter_context(server), home)
        stack.callback(lambda: console.print("stopped serving"))
        stack.callback(_STOPPING.set)  # first on the way out: no signal needs sending again
        # In the environment for the runner's flow-run processes, in the settings for this one
        # (Prefect may already be imported by the checks above).
        os.environ["PREFECT_API_URL"] = api_url
        from prefect import serve as prefect_serve
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from pipelines.flows import deployments

        console.print(
            f"serving against the Prefect server at {api_url}: nightly scoring of "
            f"{inbox}/{pattern} at {nightly} and a monthly retrain, Asia/Shanghai"
        )
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            prefect_serve(
                *deployments(
                    str(inbox.resolve()),
                    pattern,
                    str(mapping.resolve()) if mapping else None,
                    str(out.resolve()) if out else None,
                    str(Path(home).resolve()) if home else None,
                    nightly_cron=f"{int(at.group(2))} {int(at.group(1))} * * *",
                )
            )


_STOPPING = threading.Event()
_RESEND_SECONDS = 2.0


def _stop_on_sigterm() -> None:
    """Make SIGTERM stop serve as Ctrl-C does, until Prefect's runner installs its own handler."""
    sys.unraisablehook = _quiet_lost_interrupts
    signal.signal(signal.SIGTERM, _interrupt)


def _quiet_lost_interrupts(unraisable) -> None:
    """Python prints an exception it cannot raise (in a weakref callback, a __del__) with its
    traceback; a lost KeyboardInterrupt is no error, its signal is sent again (_interrupt)."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)


def _interrupt(signum, frame) -> None:
    """Stop serving as Ctrl-C does. A KeyboardInterrupt raised where Python ignores exceptions (a
    weakref callback, a __del__) is lost, and serve would go on: unless the stop has begun by
    then, the signal is sent again shortly, to this handler or to the runner's, once installed."""
    resend = threading.Timer(_RESEND_SECONDS, _send_again, args=(signum,))
    resend.daemon = True
    resend.start()
    raise KeyboardInterrupt


def _send_again(signum: int) -> None:
    if not _STOPPING.is_set():
        os.kill(os.getpid(), signum)


def _print_train(result: dict) -> None:
    table = Table(title=f"{result['model_name']} v{result['version']}", show_lines=False)
    for column in ("fold", "model", "n", "macro_f1", "high_recall", "log_loss", "ece"):
        table.add_column(column)
    for row in result.get("backtest", []):
        table.add_row(
            *(
                f"{row[c]:.3f}" if isinstance(row.get(c), float) else str(row.get(c, ""))
                for c in ("fold", "model", "n", "macro_f1", "high_recall", "log_loss", "ece")
            )
        )
    if result.get("backtest"):
        console.print(table)
    verdict = "[green]promoted to champion[/]" if result["promoted"] else "[yellow]not promoted[/]"
    console.print(f"{result['model_name']} v{result['version']}: {verdict} — {result['decision']}")


def _print_outputs(result: dict) -> None:
    folder = Path(result["output"])
    rows = result["rows"]
    console.print(
        f"[bold]{result['run_date']}[/]: {rows['rows_in']} rows in, {rows['rows_ok']} scored, "
        f"{rows['rows_quarantined']} quarantined (model v{result['model_version']})"
    )
    from pipelines.catalog import DayFiles

    for path in DayFiles.of(folder):
        print(path)


def main() -> None:  # pragma: no cover - the console script
    """The `fengqiao` command. At exit the objects it made are left to the process's end rather
    than walked by the garbage collector's last pass (1.2 s of a 125-case night's 8)."""
    global _OWN_PROCESS
    _OWN_PROCESS = True
    try:
        app(prog_name="fengqiao")
    finally:
        gc.freeze()
    sys.exit(0)
