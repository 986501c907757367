# Gameday: two commands do everything.
#   make run   start a local PostgreSQL (or use DATABASE_URL) and serve the app
#   make test  install what the tests need, then formatting, lints, the .sqlx check and every test

SHELL := /bin/bash
.DEFAULT_GOAL := help
DB := ./scripts/ensure-postgres.sh
# Builds use the committed query data in .sqlx/; `make prepare` refreshes it.
export SQLX_OFFLINE := true

.PHONY: help run test chaos db migrate prepare bench fmt stop-db psql

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: ## serve Gameday on GAMEDAY_BIND (default 127.0.0.1:3000) with a local PostgreSQL (health checks may reach loopback)
	@out="$$($(DB))" && eval "$$out" && cargo build --bin gameday && \
	  echo "Gameday: open $${GAMEDAY_BASE_URL:-http://$${GAMEDAY_BIND:-127.0.0.1:3000}}/" && \
	  GAMEDAY_HEALTH_CHECK_ALLOW="$${GAMEDAY_HEALTH_CHECK_ALLOW-127.0.0.0/8,::1/128}" exec ./target/debug/gameday serve

test: ## formatting, lints, .sqlx freshness, unit + integration + browser tests
	@./scripts/test-deps.sh
	@out="$$($(DB))" && eval "$$out" && set -x && \
	  cargo fmt --all -- --check && \
	  cargo clippy --all-targets -- -D warnings && \
	  cargo sqlx migrate run && \
	  SQLX_OFFLINE=false cargo sqlx prepare --check -- --all-targets && \
	  cargo test

chaos: ## rehearse faults (kill -9, PostgreSQL restarts, pool and lock exhaustion, LISTEN kill, network cut, SIGTERM) on a release build; prints a table
	cargo build --release --features chaos --bin gameday --bin chaos
	./target/release/chaos

bench: ## measure pages (vs pgbench), the write path (vs fsync), live fan-out to 10,000 watchers, memory and start-up on a release build; prints a table
	cargo build --release --features bench --bin gameday --bin bench
	./target/release/bench

db: ## start the local PostgreSQL and print its DATABASE_URL
	@$(DB)

migrate: ## apply migrations to the local database
	@out="$$($(DB))" && eval "$$out" && cargo sqlx migrate run

prepare: ## regenerate .sqlx/ after changing a query (needs the database)
	@out="$$($(DB))" && eval "$$out" && cargo sqlx migrate run && SQLX_OFFLINE=false cargo sqlx prepare -- --all-targets

fmt: ## format the code
	cargo fmt --all

psql: ## a psql shell on the local database
	@out="$$($(DB))" && eval "$$out" && psql "$$DATABASE_URL"

PG_CTL := $(or $(shell command -v pg_ctl),$(lastword $(sort $(wildcard /usr/lib/postgresql/*/bin/pg_ctl))))

stop-db: ## stop the local PostgreSQL
	@if [ "$$(id -u)" -eq 0 ]; then runuser -u postgres -- $(PG_CTL) -D .pgdata/cluster stop; else $(PG_CTL) -D .pgdata/cluster stop; fi
