"""The FastAPI application: routers wired to one Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from autoticket import __version__
from autoticket.api import (
    dead_letters,
    deploy_hooks,
    health,
    incidents,
    ingest,
    oncall,
    releases,
    samples,
    silences,
    sinks,
    sources,
    tickets,
)
from autoticket.api.access_log import AccessLogMiddleware
from autoticket.api.errors import install_error_handlers
from autoticket.api.security import SecurityMiddleware
from autoticket.service.runtime import Runtime

__all__ = ["create_app"]


def create_app(runtime: Runtime, extra_hosts: Iterable[str] = ()) -> FastAPI:
    """The app; it answers the config's `server.allowed_hosts` and `extra_hosts`
    (`serve` passes the address it binds)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    # No /docs or /redoc: their pages load scripts from a CDN, and the service
    # works offline. The schema itself is at /openapi.json.
    app = FastAPI(
        title="autoticket",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    allowed = [*runtime.config.server.allowed_hosts, *extra_hosts]
    app.add_middleware(SecurityMiddleware, allowed_hosts=allowed)
    if runtime.config.server.access_log:  # added last: outermost, so it times everything
        app.add_middleware(AccessLogMiddleware)
    install_error_handlers(app)
    # deploy_hooks before ingest: its paths are more specific than /ingest/{source}.
    for module in (
        deploy_hooks,
        ingest,
        incidents,
        tickets,
        oncall,
        releases,
        samples,
        silences,
        sources,
        dead_letters,
        sinks,
        health,
    ):
        app.include_router(module.router)
    try:
        from autoticket.web.views import mount_web
    except ImportError:  # the UI is optional while it is being built
        pass
    else:
        mount_web(app)
    return app
