"""RabbitMQ: the dramatiq broker and its middleware, the publisher the outbox relay uses (events
to the topic exchange, tasks to our queues, one AMQP transaction per batch), enqueueing by pinned
queue and actor name, and the dead-letter queues; the queues declared as quorum queues (or
classic, `queue_types`), on the first of RABBITMQ_URL's nodes that answers (`nodes`).

Errors are translated into `core.errors`: `BrokerUnavailableError` when the broker cannot
confirm (or, `QueueTypeMismatchError`, when a queue exists with other arguments than ours),
`MessageRefusedError` when it refused one message on a working connection.
"""
