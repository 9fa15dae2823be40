"""Use cases: handlers that take a unit of work, a clock and the rules as arguments."""
