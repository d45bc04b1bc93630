"""In-process fakes of remote ticket systems, each behind an `httpx.MockTransport`."""
