"""Reading the built warehouse: one read-only opener (connection.py) and the findings every reader shows
(findings.py: the alert rules, `aiw demo`, the marts' Dagster metadata and the HTML report)."""
