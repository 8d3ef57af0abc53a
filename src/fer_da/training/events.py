"""Progress of a training run as events: the loop publishes each epoch's record, whoever
subscribed reads it (the tracking hook logs it to MLflow while the run still trains). The
loop knows no subscriber and a subscriber knows no loop (in the manner of Lightning's
loggers); a subscriber that fails is logged and left out, never stops the training."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)
Subscriber = Callable[[str, dict[str, Any]], None]  # (run id, the epoch's record)
_subscribers: list[Subscriber] = []


@contextmanager
def subscribed(subscriber: Subscriber) -> Iterator[None]:
    """Receive every epoch record published while the block runs."""
    _subscribers.append(subscriber)
    try:
        yield
    finally:
        _subscribers.remove(subscriber)


def subscribe(subscriber: Subscriber) -> Callable[[], None]:
    """Receive every epoch record from now on; returns the function that stops it."""
    _subscribers.append(subscriber)
    return lambda: _subscribers.remove(subscriber) if subscriber in _subscribers else None


def publish_epoch(run_id: str, record: dict[str, Any]) -> None:
    for subscriber in list(_subscribers):
        try:
            subscriber(run_id, record)
        except Exception as exc:  # noqa: BLE001 - a tracker's failure never stops a run
            logger.warning("%s: an epoch subscriber failed (%s: %s); training goes on",
                           run_id, type(exc).__name__, exc)
