"""Loading and validating probe files."""

from .errors import ConfigError, Mark, Problem
from .expand import ExpandError, expand_step
from .loader import Project, load_for_serve, load_project
from .models import Config, Probe, Settings, StepBase
from .types import format_duration, parse_duration

__all__ = [
    "Config",
    "ConfigError",
    "ExpandError",
    "Mark",
    "Probe",
    "Problem",
    "Project",
    "Settings",
    "StepBase",
    "expand_step",
    "format_duration",
    "load_for_serve",
    "load_project",
    "parse_duration",
]
