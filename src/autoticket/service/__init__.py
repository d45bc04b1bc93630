"""The running service: group-commit ingest, worker, runtime wiring."""

from autoticket.service.runtime import Runtime

__all__ = ["Runtime"]
