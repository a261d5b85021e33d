"""The sandbox's Microsoft part: a stand-in for Microsoft's identity platform
(login.microsoftonline.com) and Microsoft Graph's mail sending (graph.microsoft.com).

The real `msal` library talks to it over HTTPS: msal refuses authorities that are not https, so
these routes are served by a TLS listener of their own (`tls`, `app`) with a certificate from a
CA the sandbox makes at start. The controls live on the plain listener under
`/_sandbox/microsoft/` (`controls`). The contract is docs/sandbox.md, "Microsoft".
"""

# The app registration is the product's sandbox default, as the Google part's is.
from mailroute.config.microsoft_settings import (
    MICROSOFT_SANDBOX_CLIENT_ID as MICROSOFT_SANDBOX_CLIENT_ID,
)
from mailroute.config.microsoft_settings import (
    MICROSOFT_SANDBOX_CLIENT_SECRET as MICROSOFT_SANDBOX_CLIENT_SECRET,
)

GRAPH_RESOURCE = "https://graph.microsoft.com/"
CONSUMERS_TENANT_ID = (
    "9188040d-6c67-4c5b-b112-36a304b66dad"  # Microsoft's tenant of personal accounts
)
