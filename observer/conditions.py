"""What a journey runs on: the device it emulates, the network and the CPU it is throttled to.

A probe runs under one set of conditions (its own `device`, `network`, `cpu_slowdown`, else
settings'), or once per entry of its `conditions:` matrix. Each run carries the conditions it
ran under, as a label (`iPhone 13 · slow-4g · 4× CPU`) and as JSON.

The profiles' numbers, and where they come from (docs/config.md publishes them):

- `slow-4g` is Lighthouse's mobile throttling (its `mobileSlow4G`: 150 ms RTT, 1.6 Mbps down,
  750 kbps up) with the adjustment Lighthouse applies when DevTools throttles instead of its
  own simulation: latency × 3.75 = 562.5 ms, throughput × 0.9 = 1,474.56 kbps down and
  675 kbps up. Lighthouse counts a kbps as 1,024 bits a second, and so do we.
- `slow-3g` is Chrome DevTools' own Slow 3G preset: 400 ms × 5 = 2,000 ms latency, and
  500 kbps × 0.8 = 50,000 bytes a second each way (DevTools counts 1,000 bits a kbps, so that
  is 390.625 of our kbps).
- `offline`: no network at all.

There is no `fast-3g`: DevTools renamed its Fast 3G preset to Slow 4G.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .networks import Network, network

# Lighthouse's mobile run: a phone, slow-4g, and the CPU slowed four times. Lighthouse
# emulates a Moto G Power; Playwright has no descriptor of it, and its Moto G4 (Lighthouse's
# phone until version 10) is the nearest: 360×640 at 3× pixels, touch, Chrome for Android.
MOBILE_DEVICE = "Moto G4"
PRESETS: dict[str, tuple[str | None, str | None, float | None]] = {
    "mobile": (MOBILE_DEVICE, "slow-4g", 4.0),
}


@dataclass(frozen=True)
class Conditions:
    """One set of conditions a journey runs under."""

    device: str | None = None
    network: Network | None = None
    cpu_slowdown: float | None = None  # None or 1: not slowed

    @property
    def throttled(self) -> bool:
        """Whether the network or the CPU is throttled."""
        return self.network is not None or bool(self.cpu_slowdown and self.cpu_slowdown > 1)

    @property
    def cpu(self) -> float | None:
        """The CPU slowdown, None when the CPU is not slowed."""
        return self.cpu_slowdown if self.cpu_slowdown and self.cpu_slowdown > 1 else None

    @property
    def label(self) -> str:
        """`iPhone 13 · slow-4g · 4× CPU`; empty when nothing is emulated or throttled."""
        parts = [self.device or "", self.network.label if self.network else ""]
        if self.cpu:
            parts.append(f"{self.cpu:g}× CPU")
        return " · ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        """The `conditions` of a run's JSON (and its column in the runs table)."""
        out: dict[str, Any] = {"device": self.device, "network": None, "cpu_slowdown": self.cpu}
        if self.network is not None:
            out["network"] = self.network.label
            out["download_kbps"] = self.network.download_kbps
            out["upload_kbps"] = self.network.upload_kbps
            out["latency_ms"] = self.network.latency_ms
        return out


def _entry(entry: Any, device: str | None, net: Network | None, cpu: float | None) -> Conditions:
    if isinstance(entry, str):
        dev, prof, slow = PRESETS[entry]
        return Conditions(dev, network(prof), slow)
    return Conditions(
        entry.device if entry.device is not None else device,
        network(entry.network) if entry.network is not None else net,
        entry.cpu_slowdown if entry.cpu_slowdown is not None else cpu,
    )


# Probes, settings and matrix entries are config.models' (typed Any here: this module sits
# below the config, which reads budgets' `condition:` through it).
def conditions_of(probe: Any, settings: Any) -> list[Conditions]:
    """The conditions a probe runs under: one set, or one per entry of its matrix. An entry
    leaves what it does not set to the probe's own keys, then to settings'."""
    if probe.kind != "journey":
        return [Conditions()]
    net = network(probe.network if probe.network is not None else settings.network)
    cpu = probe.cpu_slowdown if probe.cpu_slowdown is not None else settings.cpu_slowdown
    if not probe.conditions:
        return [Conditions(probe.device, net, cpu)]
    return [_entry(e, probe.device, net, cpu) for e in probe.conditions]


def runs_per_round(probes: list[Any], settings: Any) -> int:
    """How many runs one round of these probes makes: one per entry of each one's conditions."""
    return sum(len(conditions_of(p, settings)) for p in probes)


def wanted(condition: Any) -> dict[str, Any] | None:
    """A budget's `condition:` (a preset's name, or config.models' Condition) as the runs'
    recorded conditions say it: the network by its label, the CPU by its factor; "" where it
    asks for none (off, 1). Keys it leaves out are not looked at."""
    if condition is None:
        return None
    if isinstance(condition, str):
        device, profile, slow = PRESETS[condition]
        return {"device": device, "network": profile, "cpu_slowdown": slow}
    out: dict[str, Any] = {}
    if condition.device is not None:
        out["device"] = condition.device
    if condition.network is not None:
        net = network(condition.network)
        out["network"] = net.label if net else ""
    if condition.cpu_slowdown is not None:
        slow = condition.cpu_slowdown
        out["cpu_slowdown"] = slow if slow > 1 else ""
    return out


def meets(conditions: Conditions, want: dict[str, Any]) -> bool:
    """Whether runs under `conditions` are those a budget's `condition:` picks."""
    have = conditions.to_dict()
    return all((have.get(key) or "") == value for key, value in want.items())
