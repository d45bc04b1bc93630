"""The engine: one round (timers, a pipeline batch, the outbox) and one path to actions."""
