"""A griffe extension for the API reference: it gives each attrs class the `__init__` attrs
will generate, so the reference shows how to build `NewJob`, `RetryPolicy` and the rest.
(griffe does this for dataclasses only.) Loaded by mkdocs.yml; not part of the package."""

from __future__ import annotations

from typing import Any

import griffe

DECORATORS = {"attrs.define", "attrs.frozen", "attrs.mutable", "attr.s", "attr.attrs"}
FIELDS = {"attrs.field", "attr.ib", "attr.attrib"}


def _arguments(expr: object) -> dict[str, Any]:
    if isinstance(expr, griffe.ExprCall):
        return {
            argument.name: argument.value
            for argument in expr.arguments
            if isinstance(argument, griffe.ExprKeyword)
        }
    return {}


def _path(expr: object) -> str | None:
    path = getattr(expr, "canonical_path", None)
    return path if isinstance(path, str) else None


class AttrsInit(griffe.Extension):
    """Adds `__init__(self, <fields>)` to classes decorated by attrs that define none."""

    def on_class(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        decorator = next((d.value for d in cls.decorators if _path(d.value) in DECORATORS), None)
        if decorator is None or "__init__" in cls.members:
            return
        kw_only = str(_arguments(decorator).get("kw_only")) == "True"
        parameters = []
        for member in cls.members.values():
            if not isinstance(member, griffe.Attribute) or member.annotation is None:
                continue
            if "instance-attribute" not in member.labels:  # a ClassVar, not a field
                continue
            field = _arguments(member.value) if _path(member.value) in FIELDS else None
            options = field or {}
            if str(options.get("init")) == "False":
                continue
            if "factory" in options:
                default: str | griffe.Expr | None = griffe.ExprCall(
                    function=options["factory"], arguments=[]
                )
            elif field is not None:
                default = options.get("default")
            else:
                default = member.value
            keyword = kw_only or str(options.get("kw_only")) == "True"
            parameters.append(
                griffe.Parameter(
                    str(options.get("alias", member.name.lstrip("_"))).strip("\"'"),
                    annotation=member.annotation,
                    kind=griffe.ParameterKind.keyword_only
                    if keyword
                    else griffe.ParameterKind.positional_or_keyword,
                    default=default,
                    docstring=member.docstring,
                )
            )
        # attrs puts keyword-only fields after the others, whatever their order in the class.
        parameters.sort(key=lambda p: p.kind is griffe.ParameterKind.keyword_only)
        self_parameter = griffe.Parameter(
            "self", annotation=None, kind=griffe.ParameterKind.positional_or_keyword
        )
        cls.set_member(
            "__init__",
            griffe.Function(
                "__init__",
                lineno=cls.lineno,
                endlineno=cls.lineno,
                parent=cls,
                parameters=griffe.Parameters(self_parameter, *parameters),
                returns="None",
            ),
        )
