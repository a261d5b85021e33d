"""RabbitMQ: the dramatiq broker and its middleware, the publisher the outbox relay uses (events
to the topic exchange, tasks to our queues, one AMQP transaction per batch), enqueueing by pinned
queue and actor name, and the dead-letter queues.

Errors are translated into `core.errors`: `BrokerUnavailableError` when the broker cannot
confirm, `MessageRefusedError` when it refused one message on a working connection.
"""
