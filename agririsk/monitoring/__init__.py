"""Post-loan monitoring: detectors, the alert lifecycle, the SQLite store, the run loop."""

from agririsk.monitoring.lifecycle import AlertChange, Condition, alert_id, apply_lifecycle
from agririsk.monitoring.run import RunSummary, monitor_region
from agririsk.monitoring.store import MonitorLockedError, read_alerts, read_farmer_risk, read_runs

__all__ = [
    "AlertChange",
    "Condition",
    "MonitorLockedError",
    "RunSummary",
    "alert_id",
    "apply_lifecycle",
    "monitor_region",
    "read_alerts",
    "read_farmer_risk",
    "read_runs",
]
