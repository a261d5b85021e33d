"""The rules, without I/O: routing, connection states, error classes, MIME building, pacing."""
