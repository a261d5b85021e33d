"""The sandbox: a local stand-in for Google's OAuth and Gmail API endpoints, plus an SMTP sink.

The real google-auth, google-auth-oauthlib and google-api-python-client talk to it over HTTP.
Start it with `server.SandboxServer` (background threads) or `server.main` (foreground); steer
it through the `/_sandbox/` controls (`client.SandboxClient`, docs/sandbox.md).
"""
