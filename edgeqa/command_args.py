"""A command's arguments as a dataclass: each field is a flag, the string under it is its --help.

Every stage declares its command this way (`edgeqa/<stage>/*command.py`), so the options, their
types, defaults and help live beside the code that uses them, and a command receives a typed
object instead of an argparse namespace. Shared option sets (the questions to answer, the
llama.cpp engine, the answer policy, an OpenAI-compatible endpoint) are dataclasses too, mixed
into the commands that take them; a mixin with a `GROUP = (title, description)` gets its own
section in --help.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import itertools
from typing import Any, TypeVar

from edgeqa.errors import EdgeQAError
from edgeqa.option_field import flag

T = TypeVar("T")


def int_list(option_name: str, text: str) -> list[int]:
    """`1,2,4` as [1, 2, 4]; anything else is one line naming the option."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise EdgeQAError(
            f"{option_name}: expected comma-separated positive integers such as 1,2, got {text!r}"
        )
    return list(dict.fromkeys(values))


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of `cls` and of the dataclasses it inherits from."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(inspect.getsource(klass)).body[0].body  # type: ignore[attr-defined]
        for node, following in itertools.pairwise(body):
            if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr):
                docs[node.target.id] = " ".join(str(following.value.value).split())  # type: ignore[attr-defined]
    return docs


def _fields_in_help_order(cls: type) -> list[tuple[dataclasses.Field, type]]:
    """The command's own fields first, then each mixin's, with the class that declared them."""
    declared: dict[str, type] = {}
    for klass in reversed(cls.__mro__):
        for name in getattr(klass, "__annotations__", {}):
            declared[name] = klass
    fields = [(f, declared[f.name]) for f in dataclasses.fields(cls)]
    return sorted(fields, key=lambda pair: cls.__mro__.index(pair[1]))


def _kind(spec: dataclasses.Field) -> str:
    """The annotation as written ("int", "str | None", "tuple[str, ...]"), postponed or not."""
    return spec.type.__name__ if isinstance(spec.type, type) else str(spec.type)


def _default(spec: dataclasses.Field) -> Any:
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return None if spec.default is dataclasses.MISSING else spec.default


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One argparse argument per field of the dataclass `cls`."""
    docs = field_docs(cls)
    groups: dict[tuple[str, str], Any] = {}
    for spec, owner in _fields_in_help_order(cls):
        target = parser
        if owner is not cls and hasattr(owner, "GROUP"):
            if owner.GROUP not in groups:
                groups[owner.GROUP] = parser.add_argument_group(*owner.GROUP)
            target = groups[owner.GROUP]
        meta, kind = spec.metadata, _kind(spec)
        default = _default(spec)
        help_text = docs.get(spec.name, "")
        if default not in (None, False, ()) and "(default" not in help_text:
            help_text += " (default: %(default)s)"
        if meta.get("positional"):
            extras = {k: meta[k] for k in ("nargs", "metavar", "choices") if meta.get(k) is not None}
            target.add_argument(spec.name, help=help_text, **extras)
            continue
        options: dict[str, Any] = {"dest": spec.name, "help": help_text}
        if kind == "bool":
            options["action"] = "store_true"
        elif kind.startswith("tuple["):
            options.update(action="append", default=None)
        else:
            base = kind.split("|")[0].strip()
            options.update(default=default, type={"int": int, "float": float}.get(base, str))
        for key in ("metavar", "choices"):
            if meta.get(key) is not None:
                options[key] = meta[key]
        if meta.get("required"):
            options["required"] = True
        target.add_argument(flag(spec.name), **options)


def from_namespace(cls: type[T], namespace: argparse.Namespace) -> T:
    """The dataclass `cls` filled from parsed arguments (repeated flags become tuples)."""
    values = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = getattr(namespace, spec.name)
        if _kind(spec).startswith("tuple["):
            value = tuple(value or _default(spec) or ())
        values[spec.name] = value
    return cls(**values)
