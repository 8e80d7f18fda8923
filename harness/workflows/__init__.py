"""Workflows over runs, for any project: budgets, mutation proof, capacity review."""
