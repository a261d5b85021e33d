"""Queue `notify`: tell a company's admins, once per break, that Gmail is not connected."""
