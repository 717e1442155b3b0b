"""Logging of a worker: our loggers at the requested level, client libraries never below INFO."""

from __future__ import annotations

import logging

CLIENT_LOGGERS = ("aiokafka", "kafka", "faust", "mode")


def configure_logging(level: str) -> None:
    """Our loggers at the requested level; client libraries never below INFO.

    At DEBUG, aiokafka logs whole fetch responses, message bytes included: that would put patient data in the log,
    so no level we offer lets it through. Also undoes faust's spinner setting the root logger to DEBUG, which costs
    CPU (docs/benchmarks.md).
    """
    wanted = logging.getLevelName(level.upper())
    wanted = wanted if isinstance(wanted, int) else logging.INFO
    logging.getLogger().setLevel(wanted)
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(max(wanted, logging.INFO))
