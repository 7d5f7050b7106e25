# offpush: run it locally, test it, build the Lambda functions.
# `make` (or `make help`) lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

GO ?= go
# make token USER=alice
USER ?= alice
BUILD_DIR := build
CACHE_DIR := $(CURDIR)/.cache
DYNAMODB_LOCAL_DIR := $(CACHE_DIR)/dynamodb-local
FAUXQS_DIR := $(CACHE_DIR)/fauxqs

# Every Lambda function as LogicalId:directory under functions/. template.yaml
# declares the same LogicalIds; infra/template_test.go checks that they agree.
FUNCTIONS := \
	TokenUploadFunction:token-upload \
	StateChangeFunction:state-change \
	AdminFunction:admin \
	MessagePushFunction:message-push \
	BroadcastFunction:broadcast

function_ids := $(foreach f,$(FUNCTIONS),$(word 1,$(subst :, ,$(f))))
function_dirs := $(foreach f,$(FUNCTIONS),$(word 2,$(subst :, ,$(f))))
# $(call function_dir,LogicalId): the function's directory under functions/.
function_dir = $(word 2,$(subst :, ,$(filter $(1):%,$(FUNCTIONS))))
# $(call lambda_build,dir,output): a stripped linux/arm64 bootstrap for the
# provided.al2023 runtime (lambda.norpc drops the unused RPC mode).
lambda_build = CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags '-s -w' -o '$(2)' ./functions/$(1)

# Fuzz targets as package:FuzzName; go test -fuzz takes one target per run.
FUZZ_TARGETS := \
	./shared/httpapi:FuzzDecodeUpload
FUZZTIME ?= 10s

# The integration tests start DynamoDB Local and fauxqs themselves from these
# directories; "required" makes them fail, not skip, when one is missing.
test bench: export OFFPUSH_INTEGRATION := required
test bench: export OFFPUSH_DYNAMODB_LOCAL_DIR := $(DYNAMODB_LOCAL_DIR)
test bench: export OFFPUSH_FAUXQS_DIR := $(FAUXQS_DIR)

.PHONY: help run token admin-key build tools tools-dynamodb-local tools-fauxqs test bench fmt vet clean distclean FORCE

help: ## List the targets
	@echo 'usage: make TARGET'
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'
	@printf '  %-18s %s\n' 'build-<LogicalId>' 'sam build hook: one function into $$ARTIFACTS_DIR/bootstrap'
	@printf '  %-18s %s\n' '' '($(function_ids))'

run: ## Serve the whole API locally on OFFPUSH_ADDR (default 127.0.0.1:8080)
	$(GO) run ./cmd/offpush-local

token: ## Print a user JWT signed with the local secret: make token USER=alice
	@$(GO) run ./cmd/offpush-local token $(USER)

admin-key: ## Print the local server's admin key
	@$(GO) run ./cmd/offpush-local admin-key

build: $(foreach d,$(function_dirs),$(BUILD_DIR)/$(d)/bootstrap) ## Build every function into build/<function>/bootstrap (linux/arm64) and print sizes
	@stat -c '%s %n' $^ | numfmt --to=iec-i --suffix=B --format='%8.1f'

# Always handed to go build, whose cache knows what changed.
$(BUILD_DIR)/%/bootstrap: FORCE
	$(call lambda_build,$*,$@)

# sam build runs `make build-<LogicalId>` with ARTIFACTS_DIR set
# (Metadata.BuildMethod: makefile in template.yaml).
.PHONY: $(addprefix build-,$(function_ids))
$(addprefix build-,$(function_ids)): build-%:
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: sam build sets it; use make build for a local build))
	$(call lambda_build,$(call function_dir,$*),$(ARTIFACTS_DIR)/bootstrap)

# One tools-<name> target per test dependency, each installing into .cache/.
tools: tools-dynamodb-local tools-fauxqs ## Install what the tests need into .cache/ (DynamoDB Local, Java if missing; fauxqs, needs Node.js 20+)

tools-dynamodb-local:
	bash infra/local/install-dynamodb-local.sh '$(DYNAMODB_LOCAL_DIR)'

# The SQS emulator, for the queue package (message-push and broadcast).
tools-fauxqs:
	bash infra/local/install-fauxqs.sh '$(FAUXQS_DIR)'

test: tools ## Vet, run unit and integration tests (DynamoDB Local), then a short fuzz run
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*} name=$${t##*:}; \
	  $(GO) test -list "^$$name\$$" "$$pkg" | grep -x "$$name" >/dev/null || { echo "$$pkg: no fuzz target $$name" >&2; exit 1; }; \
	  echo "$(GO) test -run '^\$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) $$pkg"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done

bench: tools ## Run the benchmarks (integration ones against DynamoDB Local)
	$(GO) test -run '^$$' -bench . -benchmem ./...

fmt: ## Format the Go code
	$(GO) fmt ./...

vet: ## go vet
	$(GO) vet ./...

clean: ## Remove build outputs (build/, .aws-sam/) and coverage files
	rm -rf $(BUILD_DIR) .aws-sam coverage.* cover.out *.coverprofile

distclean: clean ## Also remove the tool cache (.cache/)
	rm -rf .cache
