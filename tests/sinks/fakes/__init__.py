"""In-process fakes of remote ticket systems, each behind an `httpx.MockTransport`.

Each follows its service's published API — paths, auth, answer shapes and
error bodies — and can fail on purpose (a seeded rate, or a scripted queue).
"""
