"""Report: results.json for machines, index.html for people, summary.md for a pull request.

All three come from one results document (report.output writes them; `plan-harness report`
re-renders them from a saved one, without a database)."""
