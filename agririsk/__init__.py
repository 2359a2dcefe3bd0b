"""agririsk: open, explainable farm credit risk from satellite imagery, weather and farmer records."""

from agririsk.errors import AgririskError, InputError
from agririsk.region import Region, Season

__all__ = ["AgririskError", "InputError", "Region", "Season", "__version__"]
__version__ = "0.1.0"
