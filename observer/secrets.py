"""Keeping secret values out of everything observer writes or shows."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import logging
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

MASK = "***"
T = TypeVar("T")

# Query keys whose values are credentials in apprise URLs (password=, token=, apikey=, secret=).
_CREDENTIAL_KEYS = ("pass", "token", "key", "secret")


class Redactor:
    """Replaces every known secret, in the forms it may take in text, with ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            # As typed, as a form body or URL carries it, and as JSON escapes it.
            forms.update({secret, quote(secret, safe=""), quote_plus(secret)})
            # Browsers encode form bodies and URLSearchParams per WHATWG (`*` kept, `~` encoded),
            # unlike quote_plus; encodeURIComponent keeps !~*'() as they are.
            forms.add(quote_plus(secret, safe="*").replace("~", "%7E"))
            forms.add(quote(secret, safe="!~*'()"))
            forms.add(json.dumps(secret)[1:-1])
            # A page that echoes the value (kept in traces) has it HTML-escaped.
            escaped = html.escape(secret, quote=False)
            forms.update({escaped, html.escape(secret)})
            forms.add(escaped.replace('"', "&#34;").replace("'", "&#39;"))
        self._forms = sorted(forms, key=len, reverse=True)
        self._bytes = [f.encode("utf-8") for f in self._forms]

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, value: str) -> str:
        """The text with every secret masked."""
        for form in self._forms:
            if form in value:
                value = value.replace(form, MASK)
        return value

    def data(self, value: T) -> T:
        """A copy of strings, lists, dicts and dataclasses with every secret masked."""
        if not self._forms:
            return value
        return self._walk(value)  # type: ignore[no-any-return]

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._walk(v) for v in value)
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {
                f.name: self._walk(getattr(value, f.name)) for f in dataclasses.fields(value)
            }
            return dataclasses.replace(value, **changes)
        return value

    def bytes(self, value: bytes) -> bytes:
        """Raw bytes with every secret masked."""
        for form in self._bytes:
            if form in value:
                value = value.replace(form, MASK.encode())
        return value

    def zip_file(self, path: Path) -> None:
        """Rewrite a Playwright trace so typed secrets and request bodies carrying them are gone."""
        if not self._forms:
            return
        tmp = path.with_suffix(path.suffix + ".tmp")
        with zipfile.ZipFile(path) as src:
            entries = [(info, src.read(info.filename)) for info in src.infolist()]
        # Resources are named by the SHA-1 of their content: a body that held a secret must be
        # renamed after the masked content, or its name lets anyone check guesses of the secret.
        renames: dict[bytes, bytes] = {}
        images = (".png", ".jpeg", ".jpg", ".webp")
        for i, (info, data) in enumerate(entries):
            # Images are compressed binaries: a secret cannot stand in them as text.
            if info.filename.endswith(images):
                continue
            masked = self.bytes(data)
            old = info.filename.removeprefix("resources/").split(".")[0]
            if masked != data and info.filename.startswith("resources/") and len(old) == 40:
                new = hashlib.sha1(masked).hexdigest()
                renames[old.encode()] = new.encode()
                info.filename = info.filename.replace(old, new)
            entries[i] = (info, masked)
        written: set[str] = set()
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for info, data in entries:
                if info.filename in written:
                    continue  # two bodies that differed only by a secret: now one file
                written.add(info.filename)
                if renames and not info.filename.endswith(images):
                    for old_name, new_name in renames.items():
                        data = data.replace(old_name, new_name)
                dst.writestr(info, data)
        tmp.replace(path)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in every record's message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the formatted message in place; never drops a record."""
        if self.redactor:
            record.msg = self.redactor.text(record.getMessage())
            record.args = None
        return True


@dataclasses.dataclass(frozen=True)
class _ChannelUrl:
    """What of an alert channel (apprise) URL may be seen, and which parts are credentials.

    Apprise reads credentials from every part but the scheme: user and password, the host
    slot of the services that put a token there (TOKEN_HOSTS: Slack's slack://TokenA/...,
    Discord's webhook id, Telegram's bot id), the port slot (Telegram's bot token stands
    there), the path (webhook tokens: Slack's /T000/B000/XXXX) and the query (?token=...).
    So only the scheme and the host name are shown. Redaction masks each
    credential wherever it appears, so of the rest it takes only parts that stand out on
    their own: the password, a token in the host or port slot, long path segments, long values
    of credential keys; the whole URL covers a user name or `hook`.
    """

    shown: str
    credentials: frozenset[str]


# apprise services whose URL puts a token (or a webhook or bot id) where a host would stand:
# slack://TokenA/TokenB/TokenC, discord://WebhookID/Token, tgram://BotToken/ChatID, ...
TOKEN_HOSTS = frozenset(
    {
        "slack",
        "discord",
        "tgram",
        "msteams",
        "pover",
        "join",
        "pbul",
        "prowl",
        "opsgenie",
        "pagerduty",
        "ifttt",
        "pushed",
        "psafer",
        "psafers",
        "gchat",
        "guilded",
        "revolt",
    }
)


def _read_channel_url(url: str) -> _ChannelUrl | None:
    """The one reading of a channel URL that mask_url and url_secrets share (None: unparsable)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    found: set[str] = set()
    if parts.password:
        found.add(parts.password)
    # The host and port slots as written (urlsplit lowers the host, and refuses a port that
    # is not a number).
    slots = parts.netloc.rpartition("@")[2]
    if slots.startswith("["):  # an IPv6 address: [::1]:8080
        host, _, port = slots.partition("]")
        host, port = host + "]", port.removeprefix(":")
    else:
        host, _, port = slots.partition(":")
    if port and not port.isdigit():
        found.add(port)
    named = "." in host or host.lower() == "localhost" or host.startswith("[")
    # A token in the host slot: only for the services that put one there (a single-label
    # host elsewhere is a host name, alertmanager or ntfy-server, and must not be masked).
    token_host = bool(host) and not named and parts.scheme.lower() in TOKEN_HOSTS
    if token_host and len(host) >= 6:
        found.add(host)
    found.update(seg for seg in parts.path.split("/") if len(seg) >= 8)
    for key, value in parse_qsl(parts.query):
        if len(value) >= 6 and any(w in key.lower() for w in _CREDENTIAL_KEYS):
            found.add(value)
    user = f"{MASK}@" if parts.username or parts.password else ""
    shown = MASK if token_host else (parts.hostname or "")
    return _ChannelUrl(f"{parts.scheme}://{user}{shown}", frozenset(found))


def url_secrets(url: str) -> set[str]:
    """A channel URL and the parts of it that are credentials (password, tokens, keys)."""
    read = _read_channel_url(url)
    return {url} | (read.credentials if read else set())


def mask_url(url: str) -> str:
    """A channel URL fit to show: its scheme and host, never credentials or tokens."""
    read = _read_channel_url(url)
    return f"{read.shown}/{MASK}" if read else MASK
