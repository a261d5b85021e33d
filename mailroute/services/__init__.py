"""Use cases: short functions that take their dependencies (`Deps`) and apply core's rules."""
