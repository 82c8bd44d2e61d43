"""Reporters: how results are shown to people and machines."""
