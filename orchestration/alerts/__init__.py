"""Alerts, one way through: model (types) <- rules, log, sinks (<- config, http) <- engine (the evaluation loop).

`engine.evaluate()` is the entry point for the Dagster sensors and `aiw run`.
"""
