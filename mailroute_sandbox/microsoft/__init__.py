"""The sandbox's Microsoft part: a stand-in for Microsoft's identity platform
(login.microsoftonline.com) and Microsoft Graph's mail sending (graph.microsoft.com).

The real `msal` library talks to it over HTTPS: msal refuses authorities that are not https, so
these routes are served by a TLS listener of their own (`tls`, `app`) with a certificate from a
CA the sandbox makes at start. The controls live on the plain listener under
`/_sandbox/microsoft/` (`controls`). The contract is docs/sandbox.md, "Microsoft".
"""

MICROSOFT_SANDBOX_CLIENT_ID = "00000000-0000-4000-8000-00000000a11c"
MICROSOFT_SANDBOX_CLIENT_SECRET = "sandbox-microsoft-client-secret"  # noqa: S105 - public demo value
GRAPH_RESOURCE = "https://graph.microsoft.com/"
CONSUMERS_TENANT_ID = (
    "9188040d-6c67-4c5b-b112-36a304b66dad"  # Microsoft's tenant of personal accounts
)
