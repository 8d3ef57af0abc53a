"""Progress of a training run as events: the loop publishes when a run starts (how many of
its epochs a checkpoint already holds) and each epoch's record; whoever subscribed reads
them (the tracking hook logs epochs to MLflow while the run still trains, the job's
progress counts them). The loop knows no subscriber and a subscriber knows no loop (in the
manner of Lightning's loggers); a subscriber that fails is logged and left out, never
stops the training."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)
EPOCH, START = "epoch", "start"  # the topics: an epoch's record; {"done", "epochs"} of a run
Subscriber = Callable[[str, dict[str, Any]], None]  # (run id, the payload)
_subscribers: dict[str, list[Subscriber]] = {EPOCH: [], START: []}


@contextmanager
def subscribed(subscriber: Subscriber, topic: str = EPOCH) -> Iterator[None]:
    """Receive every event of ``topic`` published while the block runs."""
    stop = subscribe(subscriber, topic)
    try:
        yield
    finally:
        stop()


def subscribe(subscriber: Subscriber, topic: str = EPOCH) -> Callable[[], None]:
    """Receive every event of ``topic`` from now on; returns the function that stops it."""
    listeners = _subscribers[topic]
    listeners.append(subscriber)
    return lambda: listeners.remove(subscriber) if subscriber in listeners else None


def publish(topic: str, run_id: str, payload: dict[str, Any]) -> None:
    for subscriber in list(_subscribers[topic]):
        try:
            subscriber(run_id, payload)
        except Exception as exc:  # noqa: BLE001 - a tracker's failure never stops a run
            logger.warning("%s: an %s subscriber failed (%s: %s); training goes on",
                           run_id, topic, type(exc).__name__, exc)


def publish_epoch(run_id: str, record: dict[str, Any]) -> None:
    publish(EPOCH, run_id, record)


def publish_start(run_id: str, done: int, epochs: int) -> None:
    """A run starts (``done`` of its ``epochs`` restored from a checkpoint: all of them
    when an identical run finished before)."""
    publish(START, run_id, {"done": done, "epochs": epochs})
