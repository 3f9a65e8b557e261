"""``python -m streams``: one Faust worker in this process, not supervised (what ``stir streams worker`` starts
and restarts; run it directly only under a supervisor of your own that restarts it on exit code 70)."""

import sys

import typer

from schemas.console import load_settings
from streams.app import run_worker
from streams.settings import StreamsSettings

try:
    settings = load_settings(StreamsSettings)
except typer.Exit as e:  # the message is on stderr already
    sys.exit(e.exit_code)
run_worker(settings, settings.bootstrap)
