"""Probes' `device:` against Playwright's device list, read only when a probe names one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..hints import did_you_mean
from .errors import Problem, format_path

if TYPE_CHECKING:
    from .loader import Project


def device_problems(project: Project) -> list[Problem]:
    """A problem per probe whose device Playwright does not know (empty when all are known)."""
    if not any(p.device for p in project.probes):
        return []  # reading Playwright's device list costs a 3 MB file read
    from ..browser import known_devices

    devices = known_devices()
    if not devices:
        return []
    bad: list[Problem] = []
    for probe in project.probes:
        if probe.device and project.has_unset(probe.name, "device"):
            continue  # not known yet; a command that runs the probe needs the variable
        if probe.device and probe.device not in devices:
            hint = did_you_mean(probe.device, sorted(devices))
            path = format_path((*project.origins[probe.name][1], "device"))
            where = project.mark_of(probe.name, "device")
            bad.append(Problem(where, path, f"Playwright has no device '{probe.device}'{hint}"))
    return bad
