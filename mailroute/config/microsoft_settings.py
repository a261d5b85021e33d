"""Microsoft's settings: the app registration mailroute signs in with, the identity platform's
authority, Graph's root and, for the sandbox only, the CA its TLS listener's certificate is from.

    MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET  both or neither; neither = the sandbox's app
    MICROSOFT_AUTHORITY   https://login.microsoftonline.com/common (the sandbox: <sandbox>/common)
    MICROSOFT_GRAPH_URL   https://graph.microsoft.com/v1.0 (the sandbox: <sandbox>/graph/v1.0)
    MICROSOFT_CA_FILE     a PEM bundle to trust instead of the system's (the sandbox's CA)

`from_env` never raises: `problems()` names each bad variable, for `Settings` to report with
its own. The client secret never appears in a repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# The sandbox's app registration (mailroute_sandbox.microsoft takes it from here; the product
# never imports the sandbox).
MICROSOFT_SANDBOX_CLIENT_ID = "00000000-0000-4000-8000-00000000a11c"
MICROSOFT_SANDBOX_CLIENT_SECRET = "sandbox-microsoft-client-secret"  # noqa: S105 - public demo value
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/common"
MICROSOFT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
SANDBOX_MICROSOFT_URL = "https://127.0.0.1:8443"


@dataclass(frozen=True)
class MicrosoftSettings:
    client_id: str
    client_secret: str = field(repr=False)
    authority: str
    graph_url: str
    ca_file: str = ""  # empty: the system's trust store
    uses_sandbox: bool = False
    # What was configured, kept to name the variable in `problems()`.
    _configured_id: str = field(default="", repr=False)
    _configured_secret: bool = field(default=False, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, sandbox_microsoft_url: str) -> MicrosoftSettings:
        """Read MICROSOFT_*; with neither client id nor secret, everything points at the
        sandbox's TLS listener (`sandbox_microsoft_url`, e.g. https://127.0.0.1:8443)."""
        client_id = env.get("MICROSOFT_CLIENT_ID", "").strip()
        secret = env.get("MICROSOFT_CLIENT_SECRET", "")
        sandbox = not client_id and not secret
        base = sandbox_microsoft_url.rstrip("/")
        return cls(
            client_id=MICROSOFT_SANDBOX_CLIENT_ID if sandbox else client_id,
            client_secret=MICROSOFT_SANDBOX_CLIENT_SECRET if sandbox else secret,
            authority=(
                env.get("MICROSOFT_AUTHORITY", "").strip().rstrip("/")
                or (base + "/common" if sandbox else MICROSOFT_AUTHORITY)
            ),
            graph_url=(
                env.get("MICROSOFT_GRAPH_URL", "").strip().rstrip("/")
                or (base + "/graph/v1.0" if sandbox else MICROSOFT_GRAPH_URL)
            ),
            ca_file=env.get("MICROSOFT_CA_FILE", "").strip(),
            uses_sandbox=sandbox,
            _configured_id=client_id,
            _configured_secret=bool(secret),
        )

    @classmethod
    def sandbox(cls) -> MicrosoftSettings:
        """The defaults: the sandbox's app on its default TLS listener."""
        return cls.from_env({}, sandbox_microsoft_url=SANDBOX_MICROSOFT_URL)

    def problems(self) -> list[str]:
        """Each bad MICROSOFT_* variable, named with the rule it breaks."""
        found: list[str] = []
        if bool(self._configured_id) != self._configured_secret:
            found.append("MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET: set both or neither")
        authority = urlsplit(self.authority)
        tenant = authority.path.strip("/").split("/")[0] if authority.path.strip("/") else ""
        if authority.scheme != "https" or not authority.hostname:
            found.append("MICROSOFT_AUTHORITY: must be an https URL (msal refuses any other)")
        elif not tenant or "/" in authority.path.strip("/"):
            found.append(
                "MICROSOFT_AUTHORITY: must name one tenant, e.g."
                " https://login.microsoftonline.com/common (or organizations, consumers, a"
                " tenant id or domain)"
            )
        elif authority.query or authority.fragment:
            found.append("MICROSOFT_AUTHORITY: must not carry a query or fragment")
        graph = urlsplit(self.graph_url)
        if graph.scheme != "https" or not graph.hostname:
            found.append("MICROSOFT_GRAPH_URL: must be an https URL")
        elif not graph.path.rstrip("/").endswith(("/v1.0", "/beta")):
            found.append("MICROSOFT_GRAPH_URL: must end with the API version, e.g. /v1.0")
        if self.ca_file and not self.uses_sandbox:
            found.append(
                "MICROSOFT_CA_FILE: only for the sandbox; Microsoft is verified against the"
                " system's trust store"
            )
        elif self.ca_file and not Path(self.ca_file).is_file():
            found.append(f"MICROSOFT_CA_FILE: no such file {self.ca_file!r}")
        return found

    @property
    def tenant(self) -> str:
        """The authority's tenant: common, organizations, consumers, a GUID or a domain."""
        return urlsplit(self.authority).path.strip("/").split("/")[0]

    def secret_values(self) -> tuple[str, ...]:
        """The client secret, for the logs to blank wherever it would appear (the sandbox's
        is a public demo value)."""
        real = not self.uses_sandbox and len(self.client_secret) >= 8
        return (self.client_secret,) if real else ()
