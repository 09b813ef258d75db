# make test: lint + type check + pytest + rdk test-local.  make demo: the rule end to end on an embedded moto account.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RULE := IAM_USER_CONSOLE_MFA
# Offline defaults: the tests and the demo never reach AWS.
export AWS_DEFAULT_REGION ?= us-east-1

install: $(STAMP)  # the CLI in .venv/bin, the pinned dependencies

.PHONY: install test lint typecheck pytest rdk-test demo bench generate deploy clean mutate check-wheel

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || { py=$$(scripts/find-python312) && "$$py" -m venv $(VENV); }
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || \
	  { echo "error: $(VENV) is not Python 3.12; remove it and rerun" >&2; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

test: lint typecheck pytest rdk-test

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest -q -n auto --dist worksteal

# rdk runs the rule folder's *_test.py with unittest, from the folder that holds the rules.
# Its debug dump of the test suite is dropped; its exit status and result lines are kept.
rdk-test: $(STAMP)
	@set -o pipefail; cd rules && AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
	  ../$(VENV)/bin/rdk test-local $(RULE) 2>&1 | grep -v -e '^Debug!$$' -e '^<unittest.suite.TestSuite'

demo: $(STAMP)
	$(VENV)/bin/iam-console-mfa demo

bench: $(STAMP)
	$(PY) bench/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache bench/results

# Generated, committed, and compared by the tests: parameters.json (from rdk-config.json),
# cloudformation/remediation.json (rule.yaml's remediation, for the RDK route) and
# src/iam_console_mfa/stack_permissions.py (from the stacks and CloudFormation's resource schemas).
generate: $(STAMP)
	$(PY) -m iam_console_mfa.generate

# Deploy from rdk-config.json with the current AWS credentials (see README, Deploy).
# The built wheel installed outside the clone on Python 3.12 and 3.13: demo, init, deploy --dry-run, report.
check-wheel: $(STAMP)
	scripts/check-wheel

# Mutation testing of the engine (scripts/mutate, mutate.toml); slow, not part of make test.
mutate: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[mutate]'
	scripts/mutate

deploy: $(STAMP)
	$(VENV)/bin/iam-console-mfa deploy
