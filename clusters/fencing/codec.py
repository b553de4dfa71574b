"""A `Layout` and a `Failure` from plain JSON, so a lab scenario (or a test) can describe
the cluster it builds and ask the model what the kernel should then do; an `Outcome` as
JSON. Pure, like the model: an unknown or missing field is refused by name."""

from __future__ import annotations

from dataclasses import MISSING, asdict, fields

from .model import (
    Failure,
    FailureKind,
    Layout,
    LayoutError,
    Link,
    LunPaths,
    Nic,
    Node,
    Outcome,
    Region,
    Timeouts,
)

_NESTED = {
    (Layout, "nodes"): Node,
    (Layout, "regions"): Region,
    (Layout, "links"): Link,
    (Layout, "timeouts"): Timeouts,
    (Node, "nics"): Nic,
    (Node, "luns"): LunPaths,
    (Node, "timeouts"): Timeouts,
}
_TUPLES = {(Node, "srs"), (LunPaths, "path_sets")}


def _build(cls, data, where: str):
    if not isinstance(data, dict):
        raise LayoutError(f"{where} must be an object.")
    names = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise LayoutError(f"{where} has no field {', '.join(unknown)}.")
    values = {}
    for name, spec in names.items():
        if name not in data:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise LayoutError(f"{where} lacks {name}.")
            continue
        value = data[name]
        nested = _NESTED.get((cls, name))
        if nested is not None and value is not None:
            if nested is Timeouts:
                value = _build(Timeouts, value, f"{where}.{name}")
            else:
                if not isinstance(value, list):
                    raise LayoutError(f"{where}.{name} must be a list.")
                value = tuple(
                    _build(nested, v, f"{where}.{name}[{i}]") for i, v in enumerate(value)
                )
        elif (cls, name) in _TUPLES:
            value = tuple(value)
        elif cls is Region and name == "writers" and value is not None:
            value = frozenset(value)
        values[name] = value
    return cls(**values)


def layout_from_dict(data: dict) -> Layout:
    return _build(Layout, data, "layout")


def failure_from_dict(data: dict) -> Failure:
    failure = _build(Failure, data, "failure")
    try:
        return Failure(FailureKind(failure.kind), failure.target, failure.host, failure.seconds)
    except ValueError:
        kinds = ", ".join(k.value for k in FailureKind)
        raise LayoutError(f"failure.kind {failure.kind!r} is none of {kinds}.") from None


def outcome_to_dict(outcome: Outcome) -> dict:
    return {
        **asdict(outcome),
        "fenced": outcome.fenced,
        "survivors": outcome.survivors,
        "sr_holders": outcome.sr_holders,
    }
