"""What every stage's command line shares: the consoles, the error exit, settings that fail naming the field."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.console import Console

from schemas.settings import settings_error

if TYPE_CHECKING:
    from rich.progress import Progress

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

S = TypeVar("S", bound=BaseSettings)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` on stderr; raise the returned exit (code 1: failed, 2: bad usage or configuration)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def load_settings(cls: type[S]) -> S:
    """Build a component's settings; a bad value exits 2 naming its environment variable."""
    try:
        return cls()
    except ValidationError as e:
        raise fail(settings_error(cls, e), 2) from None


def progress_bar() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err)  # fmt: skip
