"""What every ``reelsense`` command shares: options with one name and meaning everywhere,
logging, progress bars, output checks and exit codes.

Exit codes (every command): 0 all ok; 1 some items failed, or no media was found; 2 a
usage error (bad option or value); 130 interrupted (Ctrl-C). This module imports no
library code at import time, so ``reelsense --help`` stays fast.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from reelsense._progress import ProgressCallback
    from reelsense.sounds.match import DenseScope

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "check_outputs",
    "check_suffix",
    "extensions_option",
    "given_options",
    "include_hidden_option",
    "library_errors",
    "min_score_option",
    "on_interrupt",
    "progress_option",
    "resolve_second_chance_scope",
    "resolve_workers",
    "second_chance_scope_option",
    "sound_index_option",
    "split_extensions",
    "stage_bars",
    "strict_option",
    "verbosity_options",
    "workers_option",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


# ---------------------------------------------------------------------- logging


#: the CLI's one handler on the root logger: a process that runs many commands (tests, a
#: notebook calling ``main``) reuses it, pointed at the stderr of the command now running
_HANDLER = logging.StreamHandler(sys.stderr)
_HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))


def _configure_logging(ctx: click.Context) -> None:
    meta = ctx.find_root().meta
    verbose, quiet = meta.get("reelsense.verbose", 0), meta.get("reelsense.quiet", False)
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    root = logging.getLogger()
    if not meta.get("reelsense.logging"):
        _HANDLER.setStream(sys.stderr)  # (click's test runner swaps sys.stderr per command)
        if _HANDLER not in root.handlers:
            root.addHandler(_HANDLER)
        meta["reelsense.logging"] = _HANDLER
    root.setLevel(level)


def _verbose(ctx: click.Context, _param: click.Parameter, value: int) -> int:
    meta = ctx.find_root().meta
    meta["reelsense.verbose"] = meta.get("reelsense.verbose", 0) + (value or 0)
    _configure_logging(ctx)
    return value


def _quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    meta = ctx.find_root().meta
    meta["reelsense.quiet"] = meta.get("reelsense.quiet", False) or bool(value)
    _configure_logging(ctx)
    return value


def verbosity_options(fn: F) -> F:
    """``-v/--verbose`` (repeatable) and ``-q/--quiet``, accepted before and after the
    subcommand alike."""
    fn = click.option(
        "-q", "--quiet", is_flag=True, expose_value=False, is_eager=True, callback=_quiet, help="Only errors."
    )(fn)
    fn = click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        is_eager=True,
        callback=_verbose,
        help="More log output (-v info, -vv debug).",
    )(fn)
    return fn


def quiet() -> bool:
    """Whether ``-q`` asked for errors only (before or after the subcommand)."""
    return bool(click.get_current_context().find_root().meta.get("reelsense.quiet", False))


def echo_summary(message: str) -> None:
    """Print a command's summary on stdout, unless ``-q`` asked for errors only."""
    if not quiet():
        click.echo(message)


# ---------------------------------------------------------------------- shared options


def workers_option(fn: F) -> F:
    return click.option(
        "-w",
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="Worker processes [default: the CPUs this process may use, at most 8].",
    )(fn)


def extensions_option(fn: F) -> F:
    """``--ext``: which extensions a folder is walked for (:func:`split_extensions` reads it)."""
    return click.option(
        "--ext",
        "extensions",
        multiple=True,
        metavar="EXT[,EXT...]",
        help="Only files with these extensions (repeatable) "
        "[default: every audio/video format reelsense reads].",
    )(fn)


def split_extensions(values: Sequence[str]) -> tuple[str, ...] | None:
    """The extensions of ``--ext`` (repeated, comma-separated); None when not given: every
    format (:func:`reelsense.io.walk_media` checks each)."""
    parts = tuple(p for v in values for p in v.split(",") if p.strip())
    return parts or None


def include_hidden_option(fn: F) -> F:
    """``--include-hidden``: a folder's dot-files and dot-folders are walked too."""
    return click.option("--include-hidden", is_flag=True, help="Also walk dot-files and dot-folders.")(fn)


def resolve_workers(workers: int | None) -> int:
    from reelsense._workers import default_workers  # not the pipeline package: its import is pyarrow's

    return workers or default_workers()


def progress_option(fn: F) -> F:
    return click.option(
        "--progress/--no-progress", default=None, help="Progress bar [default: when stderr is a terminal]."
    )(fn)


def strict_option(fn: F) -> F:
    return click.option(
        "--strict",
        is_flag=True,
        help="Stop at the first file that fails (exit 1); by default it gets an error and the rest go on.",
    )(fn)


class _IndexFile(click.Path):
    """The path of an index file (``sounds add``, ``sounds info``): a folder is refused, and so
    is a path written with a trailing separator (``new/``), which names a folder but which
    :class:`pathlib.Path` would turn into a file of that name."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = os.fspath(value) if isinstance(value, (str, os.PathLike)) else value
        separators = tuple(filter(None, (os.sep, os.altsep)))
        if isinstance(text, str) and len(text) > 1 and text.endswith(separators):
            message = f"{text!r} ends with {text[-1]!r}, so it names a folder: give an index file"
            self.fail(message, param, ctx)
        path = super().convert(value, param, ctx)
        if isinstance(path, Path) and path.is_dir():  # path_type=Path
            held = sorted(str(p) for p in path.glob("*.rsidx") if p.is_file())
            example = (
                f"it holds {', '.join(map(repr, held[:3]))}"
                if held
                else f"such as {str(path / 'sounds.rsidx')!r}"
            )
            self.fail(f"{str(path)!r} is a folder: give an index file ({example})", param, ctx)
        return path


def sound_index_option(
    *, required: bool, help: str, exists: bool = True, file_only: bool = False
) -> Callable[[F], F]:
    """``--sound-index``: an index file, or (unless ``file_only``) a folder of reference sounds."""
    kind = _IndexFile if file_only else click.Path
    return click.option(
        "--sound-index",
        "sound_index",
        required=required,
        type=kind(exists=exists, path_type=Path),
        help=help,
    )


def second_chance_scope_option(fn: F) -> F:
    """``--second-chance-scope``: the sounds the dense second chance searches
    (``MatchConfig.dense_scope``; the values are ``reelsense.sounds.match.DENSE_SCOPES``). Read it
    through :func:`resolve_second_chance_scope`."""
    return click.option(
        "--second-chance-scope",
        type=click.Choice(["library", "candidates"]),
        default=None,
        help="With --second-chance: search every sound (library, the default: CPU per file linear in "
        "the index's length) or only the sounds the peak search ranked (candidates: bounded CPU, finds "
        "the use only when the peaks rank its sound).",
    )(fn)


def resolve_second_chance_scope(second_chance: bool, scope: str | None) -> DenseScope:
    """The scope of ``--second-chance-scope`` (``library`` when not given); a usage error without
    ``--second-chance``, where it would change nothing."""
    if scope is not None and not second_chance:
        raise click.UsageError("--second-chance-scope only applies with --second-chance")
    return "candidates" if scope == "candidates" else "library"


def given_options(ctx: click.Context, names: Sequence[str]) -> list[str]:
    """The long names (``--workers``, not ``-w``) of the options among ``names`` (parameter
    names) given on the command line, even at their default: for the usage error of options
    that another option makes do nothing."""
    from click.core import ParameterSource

    return [
        max(p.opts, key=len)
        for p in ctx.command.params
        if p.name in names and ctx.get_parameter_source(p.name) is not ParameterSource.DEFAULT
    ]


class FiniteFloatRange(click.FloatRange):
    """:class:`click.FloatRange` refusing ``nan`` (whose comparisons pass any range) and ``inf``:
    the error names the option, not the library field it fills."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class _Score(click.ParamType):
    """A match score: a finite number >= 0 (-log10 of a probability; not nan or inf)."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if number < 0.0:
            self.fail(f"{value!r} is below 0 (a score is -log10 of a probability)", param, ctx)
        return float(number)


_SCORE = _Score()


def min_score_option(fn: F) -> F:
    return click.option(
        "--min-score",
        type=_SCORE,
        default=2.0,
        show_default=True,
        help="Calibrated score a match needs (-log10 of its estimated false-match probability: 2.0 = 1 %).",
    )(fn)


def check_outputs(inputs: Sequence[str | os.PathLike[str]], outputs: Mapping[str, Path | None]) -> None:
    """Before any work: refuse an output (``{option: path}``) that is an input file or another
    output (usage errors), and create each output's folder and check that a file can be
    written in it (exit 1: a read-only or full disk found at once, not after the work)."""
    given = {Path(p).resolve() for p in inputs if Path(p).is_file()}
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        where = path.resolve()
        if where in given:
            raise click.BadParameter(f"{str(path)!r} is an input: it would be overwritten", param_hint=option)
        if where in seen:
            raise click.BadParameter(f"{str(path)!r} is also the {seen[where]} file", param_hint=option)
        seen[where] = option
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=where.parent):
                pass
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise click.ClickException(f"cannot write {str(path)!r} ({option}): {reason}") from exc


def shown(text: str) -> str:
    """``text`` for one line of a listing: every character that does not print (newline, tab,
    other controls) is written as its backslash escape, so one value stays one field."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def check_suffix(path: Path, suffixes: tuple[str, ...], what: str, option: str = "-o/--output") -> None:
    """Refuse an output path whose extension says another format."""
    if path.suffix.lower() not in suffixes:
        raise click.BadParameter(
            f"{str(path)!r}: {what} (give a path ending in {' or '.join(suffixes)})", param_hint=option
        )


# ---------------------------------------------------------------------- running


def on_interrupt(message: str | Callable[[], str]) -> None:
    """What to print when the command is interrupted (Ctrl-C): what was saved and how to go on
    (a callable is asked once the command has stopped, so it can say what the run saved)."""
    click.get_current_context().find_root().meta["reelsense.interrupt"] = message


@contextmanager
def library_errors() -> Iterator[None]:
    """Library errors as one clean line (exit 1): a usage-like refusal, a broken file or
    output, a full disk. Never a traceback for an expected failure."""
    from reelsense.errors import ItemFailedError, NoMediaError, ReelsenseError

    try:
        yield
    except NoMediaError as exc:
        click.echo(f"warning: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    except ItemFailedError as exc:
        raise click.ClickException(
            f"{exc.item_id}: {exc.cause} (stopped at the first failure: --strict)"
        ) from exc
    except ReelsenseError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # e.g. a full disk while writing
        where = f" {exc.filename!r}" if getattr(exc, "filename", None) else ""
        raise click.ClickException(f"cannot write{where}: {exc.strerror or exc}") from exc


@contextmanager
def stage_bars(
    enabled: bool | None, unit: str = "video", *, units: Mapping[str, str] | None = None
) -> Iterator[ProgressCallback]:
    """A progress callback ``update(stage, done, total)`` drawing one tqdm bar per stage,
    counted in ``units[stage]`` (default ``unit``)."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(
                total=total,
                desc=stage or None,
                unit=(units or {}).get(stage, unit),
                dynamic_ncols=True,
                disable=None if enabled is None else not enabled,
                file=sys.stderr,
            )
        if bar.total != total:
            bar.reset(total=total)
        bar.update(done - bar.n)

    try:
        with logging_redirect_tqdm():
            yield update
    finally:
        for bar in bars.values():
            bar.close()
