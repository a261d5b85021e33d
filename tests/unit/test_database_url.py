"""DATABASE_URL may list a primary and its standbys (libpq's multi-host form): settings accept
it and refuse what libpq would misread, and every connection mailroute makes asks for the host
that takes writes, each attempt bounded in time."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from mailroute.adapters.db.pool import CONNECTION_DEFAULTS, connection_options
from mailroute.config.settings import Settings, SettingsError

TWO_HOSTS = "postgresql://postgres@10.0.0.1:5432,10.0.0.2:5432/mailroute"


def _refusal(url: str) -> str:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"DATABASE_URL": url})
    return str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        f"{TWO_HOSTS}?target_session_attrs=read-write",
        "postgresql://app:secret@db-a.internal,db-b.internal:6432/mailroute?connect_timeout=3",
        "postgresql://postgres@[fd00::1]:5432,[fd00::2]/mailroute?target_session_attrs=primary",
        "postgres://postgres@127.0.0.1:5433,127.0.0.1:5434,127.0.0.1:5435/mailroute",
        "postgresql:///mailroute?host=/var/run/postgresql",
    ],
)
def test_settings_accept_a_list_of_hosts_as_libpq_reads_it(url: str) -> None:
    assert Settings.from_env({"DATABASE_URL": url}).database_url == url


def test_a_port_that_is_no_number_is_refused_naming_the_host() -> None:
    refusal = _refusal("postgresql://postgres@db-a:5432,db-b:54x2/mailroute")
    assert "DATABASE_URL: port '54x2' of host 'db-b' is not a port number" in refusal


def test_an_empty_entry_in_the_host_list_is_refused() -> None:
    assert "an empty entry in the list of hosts" in _refusal("postgresql://db-a,,db-b/mailroute")


@pytest.mark.parametrize("session", ["read-only", "standby", "prefer-standby", "readwrite"])
def test_a_session_that_cannot_write_is_refused(session: str) -> None:
    refusal = _refusal(f"{TWO_HOSTS}?target_session_attrs={session}")
    assert f"target_session_attrs='{session}': mailroute writes, use read-write" in refusal


def test_a_connect_timeout_that_is_not_whole_seconds_is_refused() -> None:
    assert "connect_timeout must be a whole number" in _refusal(f"{TWO_HOSTS}?connect_timeout=2.5")


def test_several_hosts_ask_for_the_one_that_takes_writes() -> None:
    assert connection_options(TWO_HOSTS)["target_session_attrs"] == "read-write"


def test_one_host_is_taken_as_it_is() -> None:
    options = connection_options("postgresql://postgres@127.0.0.1:5432/mailroute")
    assert "target_session_attrs" not in options
    assert options == CONNECTION_DEFAULTS


def test_what_the_url_says_wins_over_the_defaults() -> None:
    url = f"{TWO_HOSTS}?target_session_attrs=any&connect_timeout=2&keepalives_idle=30"
    options = connection_options(url)
    assert "target_session_attrs" not in options
    assert "connect_timeout" not in options
    assert "keepalives_idle" not in options
    assert options["tcp_user_timeout"] == CONNECTION_DEFAULTS["tcp_user_timeout"]


def test_every_attempt_and_a_vanished_server_are_bounded_in_time() -> None:
    conninfo = conninfo_to_dict(make_conninfo(TWO_HOSTS, **connection_options(TWO_HOSTS)))
    assert conninfo["host"] == "10.0.0.1,10.0.0.2"  # tried in this order
    assert int(str(conninfo["connect_timeout"])) <= 10
    assert conninfo["keepalives"] == "1"
    idle, interval, count = (
        int(str(conninfo[name]))
        for name in ("keepalives_idle", "keepalives_interval", "keepalives_count")
    )
    assert idle + interval * count <= 60
    assert int(str(conninfo["tcp_user_timeout"])) <= 60_000
