"""observer: synthetic journeys and real-user experience, judged by one budget language."""

__version__ = "0.1.0"
