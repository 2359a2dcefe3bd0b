"""Reading and checking a region's inputs (CONTRACTS.md §1-6), with one report of problems."""

from agririsk.inputs.farmers import read_farmers
from agririsk.inputs.loans import read_loans
from agririsk.inputs.parcels import read_parcels
from agririsk.inputs.report import Problem, Report
from agririsk.inputs.validate import validate_region

__all__ = ["Problem", "Report", "read_farmers", "read_loans", "read_parcels", "validate_region"]
