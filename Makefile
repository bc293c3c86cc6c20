# The two set-up commands of the README: `make demo` and `make test`.
CARGO ?= cargo

.PHONY: demo test setup lint check-layout scale-run scale-smoke bench-smoke profile bench bench-queue bench-language bench-distributed bench-explorer quality-pii bench-pii bench-pii-presidio bench-toxicity quality-toxicity toxicity-models gpu-bench-texts fuzz

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

# Benchmarks are built with `--workspace` (one feature set for the whole workspace), so they reuse
# what `make test` and the other targets built instead of building the dependencies again.
# SMOKE=1 runs a benchmark target on a tiny input with the dev-profile build, under target/smoke/
# (`make bench-smoke` runs every bench-* target so; CI does, so that no documented benchmark
# command rots). A smoke run's numbers mean nothing. $(call size,FULL,SMOKE) picks a size.
ifeq ($(SMOKE),1)
BENCH_PROFILE := dev
BENCH_BIN := target/debug
BENCH_DIR := target/smoke
size = $(2)
else
BENCH_PROFILE := release
BENCH_BIN := target/release
BENCH_DIR := target
size = $(1)
endif

# The binaries every benchmark target runs, built once for the whole workspace (one feature set,
# so the targets and `make test` share one build).
BUILD_BENCH_BINS = $(CARGO) build --profile $(BENCH_PROFILE) --workspace --bins

bench-smoke:
	$(MAKE) SMOKE=1 bench bench-queue bench-language bench-toxicity bench-distributed bench-explorer bench-pii bench-pii-presidio profile

bench:
	$(CARGO) bench --profile $(BENCH_PROFILE) --workspace --bench throughput -- \
	  --conversations $(call size,100000,300)

# Where an embedded run's time goes (perf record with DWARF call graphs): per phase, per stage,
# per library, hottest functions, and collapsed stacks for a flame graph (bench/profile.sh).
PROFILE_CONVERSATIONS ?= 20000
profile:
	$(BUILD_BENCH_BINS)
	@if [ "$(SMOKE)" = 1 ] && ! command -v perf > /dev/null; then echo "profile: skipped, perf is not installed"; else \
	  BIN_DIR=$(BENCH_BIN) OUT_DIR=$(CURDIR)/$(BENCH_DIR)/profile-$(call size,$(PROFILE_CONVERSATIONS),300) \
	    bash bench/profile.sh $(call size,$(PROFILE_CONVERSATIONS),300); fi

# Empty jobs through the Redis Streams queue and the in-process queue, 4 concurrent consumers
# (starts its own redis-server: `make setup` installs it).
bench-queue: setup
	$(CARGO) bench --profile $(BENCH_PROFILE) --workspace --bench queue_overhead -- \
	  --jobs $(call size,20000,500) --consumers 4

# Ten million fuzzed inputs through the raw-row reader, the Python-literal parser and linking
# (fuzz/src/lib.rs). Findings land in target/fuzz-findings/ and fail the target. `make test`
# runs a bounded 20,000-input version (fuzz/tests/smoke.rs).
fuzz:
	$(CARGO) run --release -p fuzz -- --inputs $${INPUTS:-10000000} --seed $${SEED:-1}

# Language labels against plain lingua, side by side: generated turns, then lingua's sentences.
bench-language:
	rm -rf $(BENCH_DIR)/bench-language
	$(BUILD_BENCH_BINS)
	$(BENCH_BIN)/coordinator generate --conversations $(call size,8000,100) --seed 3 --store $(BENCH_DIR)/bench-language
	$(CARGO) bench --profile $(BENCH_PROFILE) --workspace --bench language -- \
	  --store $(CURDIR)/$(BENCH_DIR)/bench-language --lingua-sample $(call size,10000,200)
	$(CARGO) bench --profile $(BENCH_PROFILE) --workspace --bench language -- --lingua-sample $(call size,10000,200)

# Toxicity on one core: the English linear model (turns/s per core), the default routed model on
# language-labelled turns, the linear model's text form, the multilingual hashed model (what the
# routed model runs for turns not labelled English), then
# the tiny transformer path, on the distinct turn texts of 20,000 generated conversations.
TOXICITY_BENCH = $(BENCH_BIN)/toxicity bench --threads 1
bench-toxicity:
	bash infra/dev/setup.sh --demo
	$(BUILD_BENCH_BINS)
	rm -rf $(BENCH_DIR)/bench-toxicity/store
	$(BENCH_BIN)/coordinator generate --conversations $(call size,20000,100) --seed 5 --store $(BENCH_DIR)/bench-toxicity/store
	python3 bench/turn_texts.py $(BENCH_DIR)/bench-toxicity/store/raw > $(BENCH_DIR)/bench-toxicity/turns.jsonl
	$(BENCH_BIN)/worker stage language < $(BENCH_DIR)/bench-toxicity/turns.jsonl > $(BENCH_DIR)/bench-toxicity/labelled.jsonl
	$(TOXICITY_BENCH) --texts $(BENCH_DIR)/bench-toxicity/turns.jsonl --repeat $(call size,3,1) \
	  --config models/toxicity/profanity-check/config.toml
	$(TOXICITY_BENCH) --texts $(BENCH_DIR)/bench-toxicity/labelled.jsonl --repeat $(call size,3,1)
	$(TOXICITY_BENCH) --texts $(BENCH_DIR)/bench-toxicity/turns.jsonl \
	  --config models/toxicity/profanity-check/text-form.toml
	$(TOXICITY_BENCH) --texts $(BENCH_DIR)/bench-toxicity/turns.jsonl --repeat $(call size,3,1) \
	  --config models/toxicity/multilingual/config.toml
	$(BENCH_BIN)/toxicity bench --config models/toxicity/tiny-bert/config.toml --texts $(BENCH_DIR)/bench-toxicity/turns.jsonl

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
	$(BUILD_BENCH_BINS)
	$(CARGO) bench --profile $(BENCH_PROFILE) --workspace --bench distributed -- \
	  --conversations $(call size,20000,300) --workers $(call size,1$(comma)2,1)

# The release explorer (release serve) over a generated release: index build time and memory,
# then p50/p95 latency of filtered browses, searches and conversation pages at 8 clients.
bench-explorer: setup
	$(BUILD_BENCH_BINS)
	$(CARGO) bench --profile $(BENCH_PROFILE) --workspace --bench explorer -- \
	  --conversations $(call size,100000,300) --clients 8 --requests $(call size,50,3)

# The scale run of issue G: N generated conversations released end to end, with wall time,
# peak RSS per process and per phase, bytes written and time per phase (bench/scale_run.sh).
# MODE=embedded (one process, local store) or MODE=distributed (redis-server, moto_server and
# WORKERS=2 `worker run` processes).
comma := ,
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
$(BENCH_DIR)/bench-pii/texts.jsonl:
	rm -rf $(BENCH_DIR)/bench-pii/store
	$(BUILD_BENCH_BINS)
	$(BENCH_BIN)/coordinator generate --conversations $(call size,20000,100) --seed 7 --store $(BENCH_DIR)/bench-pii/store
	python3 bench/turn_texts.py $(BENCH_DIR)/bench-pii/store/raw > $(BENCH_DIR)/bench-pii/texts.jsonl

# PII detection on one core: 50 MB of mixed chat text, then one 1 MB and one 10 MB text (linearity).
bench-pii: $(BENCH_DIR)/bench-pii/texts.jsonl
	$(BUILD_BENCH_BINS)
	$(BENCH_BIN)/pii bench --texts $(BENCH_DIR)/bench-pii/texts.jsonl --limit-bytes $(call size,50000000,200000) \
	  --rounds $(call size,3,1)
	$(BENCH_BIN)/pii bench --texts $(BENCH_DIR)/bench-pii/texts.jsonl --single-text-mb $(call size,1,0.1) --rounds $(call size,3,1)
	$(BENCH_BIN)/pii bench --texts $(BENCH_DIR)/bench-pii/texts.jsonl --single-text-mb $(call size,10,0.2) --rounds $(call size,3,1)

# Presidio (spaCy, slim, regex-only) against `pii bench` on the same texts, one core each, plus
# phone/card recall of both; writes docs/bench/pii_presidio.{md,json} (needs PyPI for the venv;
# the smoke run is the script's --quick mode, written under target/pii-presidio/quick).
bench-pii-presidio: $(BENCH_DIR)/bench-pii/texts.jsonl
	$(BUILD_BENCH_BINS)
	PII_BIN=$(BENCH_BIN)/pii bench/pii_presidio.sh $(BENCH_DIR)/bench-pii/texts.jsonl $(call size,,--quick)

# Container images and Kubernetes manifests, checked offline (no Docker, no cluster): hadolint,
# the build context, kustomize rendering of every overlay, Kubernetes API schemas (strict) and
# KEDA's rules with the fleet contract (infra/ci/test_keda.py). The tools come from PyPI.
.PHONY: validate-infra
validate-infra: setup
	bash infra/ci/validate_infra.sh
