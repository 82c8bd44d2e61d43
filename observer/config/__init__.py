"""Loading and validating probe files."""

from .errors import ConfigError, Mark, Problem
from .loader import Project, load_project
from .models import Config, Probe, Settings, StepBase
from .types import format_duration, parse_duration

__all__ = [
    "Config",
    "ConfigError",
    "Mark",
    "Probe",
    "Problem",
    "Project",
    "Settings",
    "StepBase",
    "format_duration",
    "load_project",
    "parse_duration",
]
