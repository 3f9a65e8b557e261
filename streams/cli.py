"""`stir streams`: the stream processors (Faust agents)."""

from __future__ import annotations

import sys

import typer

from schemas.console import load_settings
from streams.settings import StreamsSettings

app = typer.Typer(help="The stream processors (Faust agents).", no_args_is_help=True)


@app.command("worker")
def worker(
    no_supervise: bool = typer.Option(
        False, "--no-supervise", help="run the Faust worker in this process, not restarted on exit code 70 (when "
        "a supervisor of yours restarts it)"),
) -> None:  # fmt: skip
    """Run one Faust worker (all agents) in the foreground, restarted when it exits to be restarted (code 70)."""
    settings = load_settings(StreamsSettings)
    if not no_supervise:
        from streams.supervisor import supervise

        argv = [sys.executable, "-m", "streams"]
        raise typer.Exit(supervise(argv, limit=settings.restart_limit, window_s=settings.restart_window_s))
    from streams.app import run_worker

    run_worker(settings, settings.bootstrap)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
