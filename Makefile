# The two set-up commands of the README: `make demo` and `make test`.
CARGO ?= cargo

.PHONY: demo test setup lint bench bench-language

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

# Language labels against plain lingua, side by side: generated turns, then lingua's sentences.
bench-language:
	rm -rf target/bench-language
	$(CARGO) run --release -p coordinator -- generate --conversations 8000 --seed 3 --store target/bench-language
	$(CARGO) bench -p worker --bench language -- --store target/bench-language --lingua-sample 10000
	$(CARGO) bench -p worker --bench language -- --lingua-sample 10000
