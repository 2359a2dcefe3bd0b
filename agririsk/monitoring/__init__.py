"""Post-loan monitoring: detectors, the alert lifecycle, the SQLite store, the run loop.

Names are imported on first use, so that ``agririsk --help`` (which builds the ``monitor``
parser from :mod:`agririsk.monitoring.cli`) does not load the imagery and crop-model stack.
"""

from __future__ import annotations

from agririsk._lazy import lazy_exports

_EXPORTS = {
    "AlertChange": "agririsk.monitoring.lifecycle",
    "Condition": "agririsk.monitoring.lifecycle",
    "alert_id": "agririsk.monitoring.lifecycle",
    "apply_lifecycle": "agririsk.monitoring.lifecycle",
    "RunSummary": "agririsk.monitoring.run",
    "monitor_region": "agririsk.monitoring.run",
    "MonitorLockedError": "agririsk.monitoring.store",
    "read_alerts": "agririsk.monitoring.store",
    "read_farmer_risk": "agririsk.monitoring.store",
    "read_runs": "agririsk.monitoring.store",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
