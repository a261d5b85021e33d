.PHONY: run test lint bench soak fmt

# Everything on a fresh machine, then the whole stack against the sandbox (Ctrl-C stops it).
run:
	bash scripts/run.sh

# The whole suite against the real PostgreSQL, RabbitMQ and the sandbox.
test:
	bash scripts/test.sh

lint:
	bash scripts/venv.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy mailroute
	.venv/bin/lint-imports

fmt:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench:
	bash scripts/services.sh
	bash scripts/venv.sh
	.venv/bin/python -m bench

# 200,000 emails through the whole pipeline at a steady rate, the clock purging and pruning
# (about 35 minutes; not part of `make test`).
soak:
	bash scripts/services.sh
	bash scripts/venv.sh
	.venv/bin/python -m bench.soak
