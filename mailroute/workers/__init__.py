"""dramatiq workers: the broker, middleware, and one actor module per queue."""
