"""Names of the Dagster assets and jobs that more than one module refers to (definitions, sensors, `aiw run`).

Plain strings, no Dagster import: `aiw run` reads them before it decides whether to import Dagster at all.
"""

LAKE_INTERACTIONS = "lake_interactions"  # asset: accepted interaction rows in the Parquet lake
LAKE_FEEDBACK = "lake_feedback"  # asset: accepted feedback rows
PROBLEMS = "problems"  # lake_interactions metadata: one line per problem (file, line, rule, what to do)
LOAD_LAKE = "load_lake"  # the multi-asset that writes both
LOAD_LAKE_JOB = "load_lake_job"
WAREHOUSE_MODELS = "warehouse_models"  # the dbt models as one multi-asset
BUILD_MARTS_JOB = "build_marts_job"
