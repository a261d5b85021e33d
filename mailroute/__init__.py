"""mailroute: send a company's business email through its own Gmail or the default SMTP sender."""
