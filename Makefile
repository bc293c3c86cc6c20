# The two set-up commands of the README: `make demo` and `make test`.
CARGO ?= cargo

.PHONY: demo test setup lint bench

demo:
	bash infra/dev/setup.sh --demo
	$(CARGO) run --release --bin coordinator -- demo

setup:
	bash infra/dev/setup.sh

test: setup
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	$(CARGO) bench -p coordinator --bench throughput -- --conversations 100000
