"""autoticket: alerts in, accountable tickets out."""

__version__ = "0.1.0"
