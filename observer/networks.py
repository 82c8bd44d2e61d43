"""Network profiles as Chromium takes them (bytes a second, milliseconds), by the names probe
files give them; observer.conditions says where their numbers come from. Below the config,
so a budget's `condition:` is read in the runs' own words without reaching up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Network:
    """Network conditions as Chromium takes them: bytes a second, and milliseconds."""

    name: str  # the profile's name, or `custom`
    download: float  # bytes a second (0: offline)
    upload: float  # -1: not throttled
    latency_ms: float
    offline: bool = False

    @property
    def download_kbps(self) -> float:
        """Download throughput in kbps of 1,024 bits."""
        return round(self.download * 8 / 1024, 3)

    @property
    def upload_kbps(self) -> float | None:
        """Upload throughput in kbps of 1,024 bits (None: not throttled)."""
        return round(self.upload * 8 / 1024, 3) if self.upload >= 0 else None

    @property
    def label(self) -> str:
        """The profile's name; explicit conditions as `1600/750 kbps 40 ms`."""
        if self.name != "custom":
            return self.name
        up = self.upload_kbps
        rates = (
            f"{self.download_kbps:g}/{up:g} kbps"
            if up is not None
            else (f"{self.download_kbps:g} kbps down")
        )
        return f"{rates} {self.latency_ms:g} ms"

    def cdp(self) -> dict[str, Any]:
        """The parameters of Network.emulateNetworkConditions."""
        return {
            "offline": self.offline,
            "latency": self.latency_ms,
            "downloadThroughput": self.download if not self.offline else 0,
            "uploadThroughput": self.upload if not self.offline else 0,
        }


def _kbps(kbps: float) -> float:
    return kbps * 1024 / 8


PROFILES: dict[str, Network] = {
    "slow-4g": Network("slow-4g", _kbps(1.6 * 1024 * 0.9), _kbps(750 * 0.9), 150 * 3.75),
    "slow-3g": Network("slow-3g", 500 * 1000 / 8 * 0.8, 500 * 1000 / 8 * 0.8, 400 * 5),
    "offline": Network("offline", 0.0, 0.0, 0.0, offline=True),
}


def network(setting: Any) -> Network | None:
    """The conditions a `network:` value names (a profile's name, or config.models'
    NetworkArgs); None for `off` (or unset)."""
    if setting is None or setting == "off":
        return None
    if isinstance(setting, str):
        return PROFILES[setting]
    return Network(
        "custom",
        _kbps(setting.download_kbps),
        _kbps(setting.upload_kbps) if setting.upload_kbps is not None else -1.0,
        round(setting.latency * 1000, 3),
    )
