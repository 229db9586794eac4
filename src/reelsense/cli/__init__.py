"""Command-line interface: ``reelsense``. Each subcommand parses options and calls one
library function; logging and progress bars are configured here, never in the library."""

from reelsense.cli._main import main

__all__ = ["main"]
