"""Google: OAuth (sign-in, refresh, revoke), access tokens, the Gmail API sender, and the one
translator of Google's errors into ours."""
