"""`stir ingest`: the HTTP ingest API for producers."""

from __future__ import annotations

from pathlib import Path

import typer

from connectors.ingest.settings import IngestSettings
from schemas.console import err, load_settings, out

app = typer.Typer(help="The HTTP ingest API for producers.", no_args_is_help=True)


@app.command("serve")
def serve() -> None:
    """Run the ingest API (POST /v1/events, /healthz, /metrics)."""
    from connectors.ingest.app import serve as run

    cfg = load_settings(IngestSettings)
    err.print(f"ingest API on http://{cfg.host}:{cfg.port} -> Kafka {cfg.bootstrap}")
    run(cfg, cfg.bootstrap)


@app.command("openapi")
def openapi_doc(
    out_file: Path | None = typer.Option(None, "--out", help="write it here (default: print it)"),
) -> None:
    """The API's OpenAPI 3.1 document for this deployment's limits (what GET /openapi.json serves)."""
    from connectors.ingest.openapi import render

    text = render(load_settings(IngestSettings))
    if out_file is None:
        print(text, end="")
    else:
        out_file.write_text(text)
        err.print(f"wrote {out_file}")


@app.command("token")
def token(
    name: str = typer.Argument(..., help="who the token is for, e.g. scraper-eu"),
    scope: list[str] = typer.Option(["*"], "--scope", help="event-type pattern it may write (repeatable)"),
    revoke: bool = typer.Option(False, "--revoke", help="revoke the tokens of this name instead"),
    expires_in_days: float | None = typer.Option(
        None, "--expires-in-days", min=0.0, help="the token stops working this many days from now"
    ),
) -> None:
    """Create a bearer token (printed once; stored hashed) or revoke one."""
    from connectors.ingest.tokens import TokenStore

    store = TokenStore(load_settings(IngestSettings).tokens_file)
    if revoke:
        out.print(f"revoked {store.revoke(name)} token(s) named {name}")
        return
    print(store.create(name, scope, None if expires_in_days is None else expires_in_days * 86_400))
