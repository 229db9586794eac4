"""One message for an input that is not Parquet, for every reader of the rank package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reelsense.errors import ParameterError


@contextmanager
def parquet_input(path: str | Path) -> Iterator[None]:
    """Turn pyarrow's failure to open ``path`` (OSError, or ArrowInvalid, a ValueError) into
    a ParameterError naming the file."""
    try:
        yield
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot read {str(path)!r} as Parquet: {exc}") from exc
