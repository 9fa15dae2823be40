"""The pure core: no I/O, no frameworks, time passed in."""
