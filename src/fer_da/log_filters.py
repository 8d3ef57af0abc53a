"""Third-party notices a user can do nothing about, dropped from the console. Python's
warning filters (fer_da/__init__.py) cannot reach the ones MLflow raises under its own
``catch_warnings`` ("once" for every UserWarning while a model class is defined), so they
are dropped where Kedro's logging receives warnings: the ``py.warnings`` logger, given
this filter on the package's first import (Kedro's logging config accepts no filter
class outside ``logging`` and ``kedro.logging``; a logger it does not name keeps its
filters through ``conf/logging.yml``). fer-da's own warnings never match."""

from __future__ import annotations

import logging
import re

NOTICES = (
    # MLflow, on the model class kedro-mlflow defines: advice for that class's author
    r"Add type hints to the `predict` method",
    # MLflow, on the face sets logged as a run's dataset input: a note on model signatures
    r"Hint: Inferred schema contains integer column",
)
_PATTERN = re.compile("|".join(NOTICES))


class ThirdPartyNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _PATTERN.search(record.getMessage())


def install() -> None:
    """Put the filter on the ``py.warnings`` logger (once)."""
    logger = logging.getLogger("py.warnings")
    if not any(isinstance(f, ThirdPartyNotices) for f in logger.filters):
        logger.addFilter(ThirdPartyNotices())
