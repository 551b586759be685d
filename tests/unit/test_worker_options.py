"""QueueWorker's options: the keywords of its typed forms agree, and each is a field of
WorkerOptions with the same default."""

from __future__ import annotations

import inspect
import typing

import attrs
import pytest

from proletarian import ConfigurationError, QueueWorker
from proletarian.adapters.memory import MemoryStore
from proletarian.worker.options import WorkerOptions

# Keywords that are not options: the ports the worker is composed with, and the handler's mode.
NOT_OPTIONS = {"self", "store", "handler", "handler_mode", "log", "clock", "jitter"}


def test_typed_forms_take_the_same_options() -> None:
    """Both overloads of QueueWorker() list the implementation's parameters, in its order, with
    its annotations and defaults; only the handler and its mode differ between them."""
    implementation = inspect.signature(QueueWorker.__init__).parameters
    overloads = typing.get_overloads(QueueWorker.__init__)
    assert len(overloads) == 2
    for overload in overloads:
        parameters = inspect.signature(overload).parameters
        assert list(parameters) == list(implementation)
        for name, parameter in parameters.items():
            if name not in ("handler", "handler_mode"):
                assert parameter == implementation[name], name


def test_every_option_is_a_field_with_the_same_default() -> None:
    """What QueueWorker() takes besides its ports is WorkerOptions' fields (`queue` is
    `queues`), defaulting alike."""
    parameters = inspect.signature(QueueWorker.__init__).parameters
    defaults = {
        "queues" if name == "queue" else name: parameter.default
        for name, parameter in parameters.items()
        if name not in NOT_OPTIONS
    }
    assert set(defaults) == set(attrs.fields_dict(WorkerOptions))
    # The default worker id is drawn at random: fix it on both sides.
    assert WorkerOptions(**{**defaults, "worker_id": "w"}) == WorkerOptions(worker_id="w")


def test_options_are_frozen() -> None:
    """A worker's options can't change once it is built."""
    options = WorkerOptions()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        options.threads = 2  # type: ignore[misc]


def test_a_handler_that_is_not_callable_is_refused() -> None:
    """The error names the handler and what came."""
    with pytest.raises(ConfigurationError, match="handler must be callable, got 42"):
        QueueWorker(MemoryStore(), 42)  # type: ignore[call-overload]
