"""A small application whose schema plan-harness checks (see plans/)."""
