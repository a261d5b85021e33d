"""Microsoft 365: "Sign in with Microsoft" through msal, sending through Microsoft Graph."""
