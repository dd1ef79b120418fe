#!/usr/bin/env bash
# tests/vm/enforce.sh USER CHECKOUT
#
# Only the tests that need the limits enforced, in the guest of
# tests/vm/run.sh, as tests/vm/suite.sh runs the whole suite there (CI runs
# that; this is the quicker run for a developer working on limits): every test
# of the scope, its limits and its counters, with SANDBOX_TESTS_MUST_WORK=1
# and SANDBOX_TESTS_ENFORCE=1. SANDBOX_VM_TESTS: another -test.run pattern.
#
# Exits with the tests' status (125: the job itself failed).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# One package at a time: systemdcgroup's scopes are sandbox-* scopes too, and
# the tests of the limits measure.
SANDBOX_VM_PKGS="./tests ./systemdcgroup" SANDBOX_VM_LANES=1 \
	SANDBOX_VM_TESTS=${SANDBOX_VM_TESTS:-'TestEnforce|TestCgroup|TestStatsAndReport|TestStartScope|TestKeptScope|TestStartOwnScope|TestReadStats'} \
	exec "$here/suite.sh" "$@"
