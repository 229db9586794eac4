"""The ``reelsense`` command group."""

from __future__ import annotations

import logging

import click

from reelsense._version import __version__
from reelsense._workers import cap_threads_to_available_cpus


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reelsense")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
def main(verbose: int, quiet: bool) -> None:
    """reelsense: understand short-form video with its sound."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cap_threads_to_available_cpus()


# Subcommands register themselves below (one module per command family).
from reelsense.cli.embed import embed as _embed  # noqa: E402

main.add_command(_embed)
from reelsense.cli.sounds import sounds as _sounds  # noqa: E402

main.add_command(_sounds)
import reelsense.cli.discover as _discover  # noqa: E402, F401  (adds `sounds discover|trends`)
from reelsense.cli.plot import plot as _plot  # noqa: E402

main.add_command(_plot)
