# The two set-up commands of the README: `make demo` and `make test`.
CARGO ?= cargo

.PHONY: demo test setup lint check-layout scale-run scale-smoke bench bench-language bench-distributed quality-pii bench-pii bench-pii-presidio bench-toxicity quality-toxicity toxicity-models gpu-bench-texts fuzz

demo:
	bash infra/dev/setup.sh --demo
	$(CARGO) run --release --bin coordinator -- demo

setup:
	bash infra/dev/setup.sh

test: setup
	python3 infra/grafana/check_dashboard.py
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace
	$(MAKE) scale-smoke

# The scale-run script at 1,000 conversations in both modes (debug build), so that the documented
# command keeps working; it fails when a run fails or a process does not start.
scale-smoke:
	BIN_DIR=target/debug MODE=embedded bash bench/scale_run.sh 1000 target/scale-smoke-embedded > /dev/null
	BIN_DIR=target/debug MODE=distributed bash bench/scale_run.sh 1000 target/scale-smoke-distributed > /dev/null
	rm -rf target/scale-smoke-embedded target/scale-smoke-distributed

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The layout rules of docs/architecture.md that a tool can check: the lean release-manager
# binary links neither ONNX Runtime nor lingua nor the PII detector, test servers are never a
# product crate's normal dependency, and nothing in the repository reads outside it.
check-layout:
	@heavy=$$($(CARGO) tree -p release-cli -e normal --prefix none --format '{p}' | grep -E '^(ort|lingua|pii|toxicity|transformer|worker) ' | sort -u); \
	  if [ -n "$$heavy" ]; then echo "release-cli links: $$heavy"; exit 1; fi
	@for crate in shared storage queue worker coordinator release release-cli pii toxicity moderation transformer credentials generator; do \
	  if $(CARGO) tree -p $$crate -e normal --prefix none --format '{p}' | grep -q '^test-servers '; then \
	    echo "$$crate depends on test-servers outside dev-dependencies"; exit 1; fi; done
	@outside=$$(git grep -n -I -e '\.\./shared' -e '\.\./\.\./shared' || true); \
	  if [ -n "$$outside" ]; then echo "reads outside the repository:"; echo "$$outside"; exit 1; fi
	@echo "layout ok"

bench:
	$(CARGO) bench -p coordinator --bench throughput -- --conversations 100000

# Ten million fuzzed inputs through the raw-row reader, the Python-literal parser and linking
# (fuzz/src/lib.rs). Findings land in target/fuzz-findings/ and fail the target. `make test`
# runs a bounded 20,000-input version (fuzz/tests/smoke.rs).
fuzz:
	$(CARGO) run --release -p fuzz -- --inputs $${INPUTS:-10000000} --seed $${SEED:-1}

# Language labels against plain lingua, side by side: generated turns, then lingua's sentences.
bench-language:
	rm -rf target/bench-language
	$(CARGO) run --release -p coordinator -- generate --conversations 8000 --seed 3 --store target/bench-language
	$(CARGO) bench -p language --bench language -- --store $(CURDIR)/target/bench-language --lingua-sample 10000
	$(CARGO) bench -p language --bench language -- --lingua-sample 10000

# Toxicity on one core: the English linear model (turns/s per core), the default routed model on
# language-labelled turns, the linear model's text form, the multilingual hashed model (what the
# routed model runs for turns not labelled English), then
# the tiny transformer path, on the distinct turn texts of 20,000 generated conversations.
bench-toxicity:
	bash infra/dev/setup.sh --demo
	$(CARGO) build --release -p toxicity -p coordinator -p worker --bin toxicity --bin coordinator --bin worker
	rm -rf target/bench-toxicity/store
	$(CARGO) run --release -p coordinator -- generate --conversations 20000 --seed 5 --store target/bench-toxicity/store
	python3 bench/turn_texts.py target/bench-toxicity/store/raw > target/bench-toxicity/turns.jsonl
	target/release/worker stage language < target/bench-toxicity/turns.jsonl > target/bench-toxicity/labelled.jsonl
	target/release/toxicity bench --texts target/bench-toxicity/turns.jsonl --threads 1 --repeat 3 \
	  --config models/toxicity/profanity-check/config.toml
	target/release/toxicity bench --texts target/bench-toxicity/labelled.jsonl --threads 1 --repeat 3
	target/release/toxicity bench --texts target/bench-toxicity/turns.jsonl --threads 1 \
	  --config models/toxicity/profanity-check/text-form.toml
	target/release/toxicity bench --texts target/bench-toxicity/turns.jsonl --threads 1 --repeat 3 \
	  --config models/toxicity/multilingual/config.toml
	target/release/toxicity bench --config models/toxicity/tiny-bert/config.toml --texts target/bench-toxicity/turns.jsonl

# The quality report of the default model on the development sample (docs/quality/toxicity.md).
quality-toxicity:
	@test -n "$(DATA)" || { echo "set DATA to the development data folder (toxicity-train/, toxicity/, conversations/)"; exit 1; }
	bash infra/dev/setup.sh --demo
	$(CARGO) build --release -p toxicity -p worker --bin toxicity --bin worker
	python3 infra/models/multilingual_toxicity/quality.py --data "$(DATA)" --toxicity target/release/toxicity \
	  --worker target/release/worker --out docs/quality/toxicity.md
	cat docs/quality/toxicity.md

# Rebuild the committed models (needs PyPI): the English linear model and the tiny test classifier.
toxicity-models:
	bash infra/models/profanity_check/build.sh --check || bash infra/models/profanity_check/build.sh
	bash infra/models/tiny_classifier/build.sh

# The 4,000 texts bench/toxicity_gpu.sh reads by default.
gpu-bench-texts:
	$(CARGO) run --release -p coordinator -- generate --conversations 3000 --seed 5 --store target/gpu-bench-store
	mkdir -p bench/data
	python3 bench/turn_texts.py target/gpu-bench-store/raw 4000 > bench/data/toxicity_texts.jsonl

# Distributed throughput with 1 and 2 `worker run` processes over Redis and S3 (moto_server).
bench-distributed: setup
	$(CARGO) build --release --workspace --bins
	$(CARGO) bench -p e2e-tests --bench distributed -- --conversations 20000 --workers 1,2

# The scale run of issue G: N generated conversations released end to end, with wall time,
# peak RSS per process and per phase, bytes written and time per phase (bench/scale_run.sh).
# MODE=embedded (one process, local store) or MODE=distributed (redis-server, moto_server and
# WORKERS=2 `worker run` processes).
N ?= 1000000
MODE ?= embedded
scale-run: setup
	$(CARGO) build --release --bins
	MODE=$(MODE) bash bench/scale_run.sh $(N)

# PII detection scored on the development sample (docs/quality/pii.md).
quality-pii:
	$(CARGO) run --release -p pii -- quality --file testdata/pii/generated_small.json > docs/quality/pii.md
	cat docs/quality/pii.md

# The distinct turn texts of 20,000 generated conversations (about 146 MB), for the PII benchmarks.
target/bench-pii/texts.jsonl:
	rm -rf target/bench-pii/store
	$(CARGO) run --release -p coordinator -- generate --conversations 20000 --seed 7 --store target/bench-pii/store
	python3 bench/turn_texts.py target/bench-pii/store/raw > target/bench-pii/texts.jsonl

# PII detection on one core: 50 MB of mixed chat text, then one 1 MB and one 10 MB text (linearity).
bench-pii: target/bench-pii/texts.jsonl
	$(CARGO) build --release -p pii
	target/release/pii bench --texts target/bench-pii/texts.jsonl --limit-bytes 50000000 --rounds 3
	target/release/pii bench --texts target/bench-pii/texts.jsonl --single-text-mb 1 --rounds 3
	target/release/pii bench --texts target/bench-pii/texts.jsonl --single-text-mb 10 --rounds 3

# Presidio (spaCy, slim, regex-only) against `pii bench` on the same texts, one core each, plus
# phone/card recall of both; writes docs/bench/pii_presidio.{md,json} (needs PyPI for the venv).
bench-pii-presidio: target/bench-pii/texts.jsonl
	$(CARGO) build --release -p pii
	bench/pii_presidio.sh target/bench-pii/texts.jsonl

# Container images and Kubernetes manifests, checked offline (no Docker, no cluster): hadolint,
# the build context, kustomize rendering of every overlay, Kubernetes API schemas (strict) and
# KEDA's rules with the fleet contract (infra/ci/test_keda.py). The tools come from PyPI.
.PHONY: validate-infra
validate-infra: setup
	bash infra/ci/validate_infra.sh
