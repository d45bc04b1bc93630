"""HTTP routers; `create_app` is the entry point."""
