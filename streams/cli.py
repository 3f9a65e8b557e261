"""`stir streams`: the stream processors (Faust agents)."""

from __future__ import annotations

import typer

from schemas.console import load_settings
from streams.settings import StreamsSettings

app = typer.Typer(help="The stream processors (Faust agents).", no_args_is_help=True)


@app.command("worker")
def worker() -> None:
    """Run one Faust worker (all agents) in the foreground."""
    from streams.app import run_worker

    settings = load_settings(StreamsSettings)
    run_worker(settings, settings.bootstrap)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
