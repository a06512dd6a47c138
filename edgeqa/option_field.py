"""`option()`: a dataclass field that also says how a command line presents it.

Why its own module: the runtime and the reader declare their settings as option sets that
commands mix in; they import this declaration only, never the command line that reads it
(edgeqa/command_args.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any


def option(
    default: Any = None,
    *,
    factory: Any = None,
    metavar: str | tuple[str, ...] | None = None,
    choices: tuple[str, ...] | None = None,
    positional: bool = False,
    nargs: str | int | None = None,
    required: bool = False,
) -> Any:
    """A field with how argparse should present it; the help is the docstring under the field."""
    metadata = {"metavar": metavar, "choices": choices, "positional": positional, "nargs": nargs}
    metadata["required"] = required
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
