"""Settings and logging: read once, passed down."""
