"""Alert sensors: each tick reads the marts read-only and fires alerts that have not fired before."""


import dagster as dg

from orchestration.alerts.engine import evaluate
from orchestration.alerts.rules import RULES
from orchestration.resources import WarehouseSettings


def _alert_sensor(rule_name: str) -> dg.SensorDefinition:
    @dg.sensor(name=f"{rule_name}_alerts", minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Fires one alert per {rule_name.replace('_', ' ')} finding "
                           "(once ever; see AIW_HOME/alerts).")
    def _sensor(context: dg.SensorEvaluationContext, settings: WarehouseSettings) -> dg.SkipReason:
        # The log sink writes to context.log, so each alert shows in this tick's logs in the UI.
        result = evaluate(settings.layout(), rules={rule_name: RULES[rule_name]}, logger=context.log)
        failed = "".join(f"; {sink} failed for {len(keys)} (retried next tick)"
                         for sink, keys in result.failed().items())
        if result.skipped_reason:
            return dg.SkipReason(result.skipped_reason + failed)
        context.update_cursor(str(int(context.cursor or 0) + len(result.fired)))  # alerts fired so far
        return dg.SkipReason(f"{len(result.fired)} new alert(s), {result.already_fired} already fired, "
                             f"{len(result.retried)} earlier alert(s) re-delivered{failed}")

    return _sensor


alert_sensors = [_alert_sensor(name) for name in RULES]
