"""RABBITMQ_URL lists the nodes of a cluster, tried in order; a bad entry is named (without its
password); RABBITMQ_QUEUE_TYPE is quorum unless set to classic."""

from __future__ import annotations

import pytest

from mailroute.adapters.rabbitmq.nodes import node_parameters
from mailroute.config.settings import Settings, SettingsError

CLUSTER = "amqp://mr:rabbit-node-one@n1:5672/billing,amqp://mr:rabbit-node-two@n2:5673/billing"


def _refusal(**env: str) -> str:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    return str(refused.value)


def test_a_list_of_nodes_is_kept_in_order_and_each_is_tried_in_that_order() -> None:
    settings = Settings.from_env({"RABBITMQ_URL": f" {CLUSTER.replace(',', ' , ')} "})

    assert settings.rabbitmq_urls == (
        "amqp://mr:rabbit-node-one@n1:5672/billing",
        "amqp://mr:rabbit-node-two@n2:5673/billing",
    )
    params = node_parameters(settings.rabbitmq_url, attempts=3)
    assert [(p.host, p.port, p.virtual_host) for p in params] == [
        ("n1", 5672, "billing"),
        ("n2", 5673, "billing"),
    ]
    # pika tries the whole list this many times (the last entry's value), a second apart.
    assert params[-1].connection_attempts == 3
    assert params[-1].retry_delay == 1
    assert all(p.heartbeat == 30 and p.socket_timeout == 5 for p in params)


def test_one_node_is_a_list_of_one() -> None:
    assert Settings.from_env({}).rabbitmq_urls == ("amqp://guest:guest@127.0.0.1:5672/%2F",)


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (
            "amqp://mr:rabbit-node-one@n1:5672/billing,http://mr:rabbit-node-two@n2/billing",
            "RABBITMQ_URL: entry 2 of 2 (http://mr:***@n2/billing): must be a URL amqp://",
        ),
        ("amqp://n1/billing,,amqp://n3/billing", "RABBITMQ_URL: entry 2 of 3 is empty"),
        ("amqp://n1:56x2/billing", "RABBITMQ_URL (amqp://n1:56x2/billing): the port is not a"),
        ("amqp://n1/billing,amqp://n2/other", "every node URL must name the same vhost"),
    ],
)
def test_a_bad_entry_is_refused_by_its_place_in_the_list(raw: str, said: str) -> None:
    message = _refusal(RABBITMQ_URL=raw)
    assert said in message
    assert "rabbit-node-two" not in message


def test_the_default_vhost_may_be_written_three_ways() -> None:
    Settings.from_env({"RABBITMQ_URL": "amqp://n1,amqp://n2/,amqp://n3/%2F"})


def test_the_queue_type_is_quorum_unless_classic_is_asked_for() -> None:
    assert Settings.from_env({}).rabbitmq_queue_type == "quorum"
    classic = Settings.from_env({"RABBITMQ_QUEUE_TYPE": "classic"})
    assert classic.rabbitmq_queue_type == "classic"
    assert "RABBITMQ_QUEUE_TYPE: must be quorum or classic" in _refusal(
        RABBITMQ_QUEUE_TYPE="stream"
    )


def test_the_password_of_every_node_is_a_secret_to_keep_out_of_the_logs() -> None:
    secrets = Settings.from_env({"RABBITMQ_URL": CLUSTER}).secret_values()
    assert {"rabbit-node-one", "rabbit-node-two"} <= set(secrets)
