"""Planner statistics: captured, checked and stamped, scaled, loaded."""
