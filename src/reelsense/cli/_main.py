"""The ``reelsense`` command group: subcommands loaded on first use, exit codes, Ctrl-C."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import click

from reelsense._version import __version__
from reelsense.cli._common import EXIT_INTERRUPTED, EXIT_OK, verbosity_options

__all__ = ["main"]

#: subcommand -> "module:attribute" (imported only when the subcommand is used or listed)
_COMMANDS = {
    "embed": "reelsense.cli.embed:embed",
    "sounds": "reelsense.cli.sounds:sounds",
    "plot": "reelsense.cli.plot:plot",
    "rank": "reelsense.cli.rank:rank",
    "fusion": "reelsense.cli.fusion:fusion",
}


class _Reelsense(click.Group):
    """Subcommands from :data:`_COMMANDS`, imported lazily; exit codes 0/1/2/130 (see
    :mod:`reelsense.cli._common`), no traceback on Ctrl-C."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _COMMANDS:
            module, _, attribute = _COMMANDS[cmd_name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, cmd_name)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line and exit with its code (``sys.exit``).

        ``args`` None: the process's own command line (``sys.argv``; the ``reelsense``
        command, ``python -m reelsense``), which the process ends with. From then on a
        Ctrl-C or SIGTERM (one landing while Python shuts down, in another library's exit
        hooks) ends the process at once with code 130, without a traceback. ``args`` given
        (a caller running the command in its own process, as click's CliRunner does): the
        SIGTERM handler is put back as it was when the command returns."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        own_process = args is None
        previous = _stop_on_sigterm()
        try:
            code = self._exit_code(args, prog_name or "reelsense", complete_var, **extra)
        finally:
            if own_process:
                _end_at_once_on_interrupt()
            elif previous is not None:
                signal.signal(signal.SIGTERM, previous)
        sys.exit(code)

    def _exit_code(
        self, args: Sequence[str] | None, prog_name: str, complete_var: str | None, **extra: Any
    ) -> int | Any:
        """Run the command line; its exit code, once what it has to say is printed."""
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
        except (click.exceptions.Abort, KeyboardInterrupt):
            click.echo(f"\ninterrupted: {_registered_interrupt_message()}", err=True)
            return EXIT_INTERRUPTED
        return result if isinstance(result, int) else EXIT_OK

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        ctx = super().make_context(info_name, args, parent, **extra)
        _ROOT[0] = ctx
        return ctx


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _end_now(signum: int, frame: object) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(EXIT_INTERRUPTED)


def _end_at_once_on_interrupt() -> None:
    """Make Ctrl-C and SIGTERM end the process at once with code 130 (the command is over:
    what is left is Python shutting down, where a KeyboardInterrupt would print a traceback
    from whichever exit hook it landed in, and leave the exit code as it was). Only in the
    main thread (where handlers can be set)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _end_now)
        signal.signal(signal.SIGTERM, _end_now)


def _stop_on_sigterm() -> Any:
    """Make SIGTERM (``kill``, a scheduler stopping the job) stop a command as Ctrl-C does:
    workers stopped, finished rows kept, the resume message, exit code 130. Returns the
    handler it replaced (None when it could not install one: not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _interrupt)


#: the context of the running command line (its meta holds what to say on Ctrl-C)
_ROOT: list[click.Context | None] = [None]


def _registered_interrupt_message() -> str:
    """What the interrupted command registered to say (:func:`~reelsense.cli._common.on_interrupt`),
    or that nothing was written."""
    ctx = _ROOT[0]
    message = ctx.meta.get("reelsense.interrupt") if ctx is not None else None
    if callable(message):  # on_interrupt: asked once the command has stopped
        message = message()
    return str(message or "nothing was written")


@click.group(cls=_Reelsense, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reelsense")
@verbosity_options
def main() -> None:
    """reelsense: understand short-form video with its sound.

    Exit codes: 0 all ok; 1 some files failed, no media was found or the run was refused (a
    resume with other options, a broken index, a full disk); 2 usage error; 130 interrupted
    by Ctrl-C or SIGTERM (a re-run of the same command resumes where it stopped).
    """
    from reelsense._workers import cap_threads_to_available_cpus, skip_collection_at_exit

    cap_threads_to_available_cpus()
    skip_collection_at_exit()
