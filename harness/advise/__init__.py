"""Advise: which indexes should the schema have? Candidates from the head's indexes, the
project's proposals and the plans, built for real on the run's own copy of the database,
each set of them measured in a transaction that is rolled back, and a set chosen under
budgets (`plan-harness advise`)."""
