"""In-process fakes of the trackers autoticket's sinks talk to (httpx.MockTransport).

Each follows its service's published API — paths, auth, answer shapes and
error bodies — and can fail on purpose: `fail_next(...)` scripts the next
answers, `fail_rate` fails that share of calls at random (seeded).
"""
