"""`option()`: a dataclass field that also says how a command line presents it and what it
accepts; `OptionSet`: what checks every option of a set, once.

Why its own module: the runtime and the reader declare their settings as option sets that
commands mix in; they import this declaration only, never the command line that reads it
(edgeqa/command_args.py). Why declared checks: each mixin checking its own fields in a
`__post_init__` that had to call the next mixin's silently turned checks off when one forgot.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from edgeqa.errors import EdgeQAError


def option(
    default: Any = None,
    *,
    factory: Any = None,
    metavar: str | tuple[str, ...] | None = None,
    choices: tuple[str, ...] | None = None,
    positional: bool = False,
    nargs: str | int | None = None,
    required: bool = False,
    minimum: float | None = None,
) -> Any:
    """A field with how argparse should present it and the least value it accepts (None: no
    bound; a None value is always accepted); the help is the docstring under the field."""
    metadata = {"metavar": metavar, "choices": choices, "positional": positional, "nargs": nargs}
    metadata.update(required=required, minimum=minimum)
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag(name: str) -> str:
    """How the command line spells a field: `max_seq_len` -> `--max-seq-len`."""
    return "--" + name.replace("_", "-")


class OptionSet:
    """Base of every option set: once the whole set is built (whichever sets a command mixes
    together), each field's declared bound and choices are checked, then each class's own
    `_validate` (cross-field checks, parsing into a type) runs, base classes first. No class
    defines `__post_init__`, so none can forget to hand on to the next."""

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, spec.name)
            minimum, choices = spec.metadata.get("minimum"), spec.metadata.get("choices")
            if minimum is not None and value is not None and value < minimum:
                raise EdgeQAError(f"{flag(spec.name)} must be at least {minimum}, not {value}")
            if choices and isinstance(value, str) and value not in choices:
                raise EdgeQAError(f"{flag(spec.name)} must be one of {', '.join(choices)}, not {value!r}")
        for klass in reversed(type(self).__mro__):
            own = vars(klass).get("_validate")
            if own is not None:
                own(self)
