"""Everything that touches the world: PostgreSQL, RabbitMQ, SMTP, Google, crypto, the sandbox."""
