"""``reelsense rank``: feeds per user from an interaction log; ``reelsense rank train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reelsense.cli._common import (
    check_outputs,
    check_suffix,
    echo_summary,
    given_options,
    library_errors,
    progress_option,
    stage_bars,
    verbosity_options,
)

__all__ = ["rank"]

_FILE = click.Path(exists=True, dir_okay=True, path_type=Path)  # a Parquet file or dataset folder
_TABLE = click.Path(exists=True, dir_okay=False, path_type=Path)  # a CSV or Parquet file

# the stages that count users; reading and EM count steps
_USER_STAGES = {"user tastes": "user", "ranking users": "user"}


class _DefaultFeed(click.Group):
    """``reelsense rank EMBEDDINGS ...`` runs ``feed``; ``reelsense rank train ...`` trains.
    The group's own flags (``-v``, ``-q``, ``-h``) may come first either way."""

    #: the subcommand run when the arguments name none
    default_command = "feed"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        flags = {opt for param in self.get_params(ctx) for opt in (*param.opts, *param.secondary_opts)}
        letters = {opt[1] for opt in flags if len(opt) == 2 and opt[0] == "-"}

        def group_flag(arg: str) -> bool:  # one of the group's flags, or a bundle of them (-vv)
            return arg in flags or (
                len(arg) > 1 and arg[0] == "-" and arg[1] != "-" and set(arg[1:]) <= letters
            )

        at = 0  # the first argument that is not one of the group's flags
        while at < len(args) and group_flag(args[at]):
            at += 1
        asks_help = any(arg in ctx.help_option_names for arg in args[:at])
        if at < len(args) and args[at] not in self.commands and not asks_help:
            args = [*args[:at], self.default_command, *args[at:]]
        return super().parse_args(ctx, args)


def _config(max_per_sound: int, positive_only: bool, seed: int) -> Any:
    from reelsense.rank import RankConfig

    return RankConfig(max_per_sound=max_per_sound, negative_feedback=not positive_only, seed=seed)


#: ``rank``'s options that a model saved by ``rank train`` fixes (refused with ``--model``)
_MODEL_DECIDES = ("max_per_sound", "positive_only", "seed")

_events_option = click.option(
    "--events",
    required=True,
    type=_TABLE,
    help="user_id,video_id,timestamp,event,watch_fraction (CSV/Parquet).",
)


def _training_options(fn: Any) -> Any:
    fn = click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Seeds the training (k-means).",
    )(fn)
    fn = click.option(
        "--positive-only",
        is_flag=True,
        help="Ignore negative feedback (skips, short views, 'not interested'): for comparison.",
    )(fn)
    return fn


@click.group("rank", cls=_DefaultFeed)
@verbosity_options
def rank() -> None:
    """Rank unseen videos per user from what users did (docs/ranking.md).

    \b
    reelsense rank EMBEDDINGS --events EVENTS --users USERS -k 10 -o recs.csv
    reelsense rank train EMBEDDINGS --events EVENTS [--users USERS] -o model/
    reelsense rank EMBEDDINGS --events EVENTS --users USERS --model model/ -o recs.csv
    """


@rank.command("feed")
@click.argument("embeddings", type=_FILE)
@_events_option
@click.option(
    "--users", required=True, type=_TABLE, help="user_id,request_time (CSV/Parquet): rank at that time."
)
@click.option("-k", type=click.IntRange(min=1), default=10, show_default=True, help="Videos per user.")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV to write."
)
@click.option(
    "--model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A trained model folder (else train on EVENTS first).",
)
@click.option(
    "--max-per-sound",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Videos of one sound per feed (0: no cap; with --model: the model's).",
)
@click.option("--require-history", is_flag=True, help="Refuse users with no event before their request time.")
@_training_options
@progress_option
@verbosity_options
@click.pass_context
def feed(
    ctx: click.Context,
    embeddings: Path,
    events: Path,
    users: Path,
    k: int,
    output: Path,
    model: Path | None,
    max_per_sound: int,
    require_history: bool,
    positive_only: bool,
    seed: int,
    progress: bool | None,
) -> None:
    """Write user_id,rank,video_id,score: K unseen videos for each user of USERS."""
    from reelsense.rank import rank_files

    unused = given_options(ctx, _MODEL_DECIDES) if model is not None else []
    if unused:
        raise click.UsageError(
            f"{', '.join(unused)}: with --model the saved model decides (they were fixed by "
            "`reelsense rank train`), so these options would do nothing: leave them out "
            "(or give them to `rank train`, or rank without --model to train on EVENTS)"
        )
    check_suffix(output, (".csv",), "rank writes CSV")
    check_outputs([embeddings, events, users], {"-o/--output": output})
    with library_errors(), stage_bars(progress, unit="step", units=_USER_STAGES) as bars:
        summary = rank_files(
            embeddings,
            events,
            users,
            output,
            k=k,
            model=model,
            config=_config(max_per_sound, positive_only, seed),
            require_history=require_history,
            progress=bars,
        )
    echo_summary(f"events: {summary.log.summary()}")
    if summary.report.cold_users:
        echo_summary(f"{len(summary.report.cold_users)} users without events: popular + diverse feed")
    echo_summary(f"wrote {summary.output}: {summary.users} users, {summary.rows} rows")


@rank.command("train")
@click.argument("embeddings", type=_FILE)
@_events_option
@click.option(
    "--users", type=_TABLE, help="user_id,request_time (CSV/Parquet): learn only from events before them."
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Model folder to write.",
)
@click.option(
    "--max-per-sound", type=click.IntRange(min=0), default=3, show_default=True, help="Stored with the model."
)
@_training_options
@progress_option
@verbosity_options
def train(
    embeddings: Path,
    events: Path,
    users: Path | None,
    output: Path,
    max_per_sound: int,
    positive_only: bool,
    seed: int,
    progress: bool | None,
) -> None:
    """Learn a ranker from EVENTS and save it (safetensors + config.json) in OUTPUT."""
    from reelsense.rank import train_files

    check_outputs([embeddings, events, *([users] if users else [])], {"-o/--output": output})
    with library_errors(), stage_bars(progress, unit="step") as bars:
        model, report = train_files(
            embeddings,
            events,
            output,
            users=users,
            config=_config(max_per_sound, positive_only, seed),
            progress=bars,
        )
    echo_summary(f"events: {report.summary()}")
    echo_summary(f"wrote {output}: {model.info['users']} users, {model.info['feature_dim']} features")
