"""The ``flatstream`` command group: every subcommand, and exit codes that
mean the same in all of them (click's own usage errors included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click

from .. import _kernels
from .checks import count, dump, info, recover, salvage, verify
from .common import EXIT_CODES_HELP, EXIT_USAGE, checksum_option
from .convert import convert
from .reading import cat, head, tail
from .stats import stats


class _Group(click.Group):
    """A group whose usage errors (a bad option, a missing file) exit 3, the
    documented code, where click's default is 2 (which here means torn)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as error:
            error.exit_code = EXIT_USAGE
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            error.exit_code = EXIT_USAGE
            raise


@click.group(cls=_Group, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="flatstream")
def main() -> None:
    """Durable, replayable streams of FlatBuffers messages.

    Journals describe themselves (no -c needed); raw streams take -c with
    the checksum they were written with. Progress shows on stderr when stdout
    and stderr are terminals; --json prints one JSON object for scripts."""


@main.command()
@click.option("--events", "count", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@checksum_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Keep the journal here (default: a temporary file).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def demo(count: int, checksum: Optional[str], output: Optional[Path], progress: bool) -> None:
    """Write a telemetry capture, replay and verify it, decode a sample."""
    from ..demo import run

    if checksum is None:
        checksum = "xxh3_64"
    click.echo(f"flatstream demo: {count:,} telemetry events, {_kernels.IMPLEMENTATION} kernels")
    report = run(count, checksum=checksum, path=output, progress=progress, echo=click.echo)
    if output is None:
        report.path.unlink()


for _command in (info, verify, count, dump, recover, salvage, cat, head, tail, stats, convert):
    main.add_command(_command)
