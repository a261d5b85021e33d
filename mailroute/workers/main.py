"""Entry module for the dramatiq CLI: configure logging, build the broker, declare the actors."""

from mailroute.bootstrap import build_worker_broker
from mailroute.config.logging import configure_logging
from mailroute.config.settings import Settings
from mailroute.workers.dependencies import warm_up

_settings = Settings.from_env()
configure_logging(_settings.log_level, _settings.log_format, secrets=_settings.secret_values())
broker = build_worker_broker(_settings, warm_up=warm_up)

import mailroute.workers.actors  # noqa: E402,F401  (declares the actors on `broker`)
