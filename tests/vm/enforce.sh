#!/usr/bin/env bash
# tests/vm/enforce.sh USER CHECKOUT
#
# CI's VM job (.ci/run calls it as root): the tests that need the limits
# enforced, run where they can be: in the guest of tests/vm/run.sh (Debian 12,
# kernel 6.1, systemd as PID 1, unified cgroup v2, a user manager that
# delegates every controller), as its unprivileged user, with
# SANDBOX_TESTS_MUST_WORK=1 and SANDBOX_TESTS_ENFORCE=1 (a missing controller
# fails instead of skipping).
#
# Nothing is compiled or linked under emulation: the test binaries, sandbox,
# sandbox-netstack and the probe are built here, as USER in CHECKOUT with
# USER's Go caches (after the host's own test run most of it is cached), and
# the guest gets them with a copy of the sources (the tests run in their
# package directories) and SANDBOX_TEST_BINARIES.
#
# Exits with the tests' status (125: the job itself failed).

set -uo pipefail

say() { printf 'vm-enforce: %s\n' "$*" >&2; }
[ $# = 2 ] || { say "usage: $0 USER CHECKOUT"; exit 2; }
user=$1 checkout=$(cd "$2" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# What runs inside: every test of the scope, its limits and its counters
# (the latency benchmark of systemdcgroup means nothing under emulation).
# SANDBOX_VM_TESTS: another -run pattern, for a developer.
tests_run=${SANDBOX_VM_TESTS:-'TestEnforce|TestCgroup|TestStatsAndReport'}
scope_skip='TestStartScopeLatency'
started=$SECONDS

IFS=: read -r _ _ uid gid _ home _ < <(getent passwd "$user") || { say "no user $user"; exit 125; }
go_env=(HOME="$home" USER="$user" PATH="/usr/local/go/bin:/usr/bin:/bin" GOTOOLCHAIN=local
	GOCACHE="${GOCACHE:-$home/.cache/go-build}" GOMODCACHE="${GOMODCACHE:-$home/go/pkg/mod}"
	GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=0 GOTELEMETRY=off)
as_user() { (cd "$checkout" && setpriv --reuid="$uid" --regid="$gid" --init-groups -- env -i "${go_env[@]}" "$@") </dev/null; }

# The guest first: a cold build is the longest part of a first run.
"$here/run.sh" --prepare || exit 125

# In the guest: /home/sbtest/vm/src (the sources) and /home/sbtest/vm/bin.
stage=$(mktemp -d) || exit 125
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/src" "$stage/bin" && cp -a "$checkout/." "$stage/src/" && rm -rf "$stage/src/.git" &&
	chown -R "$uid:$gid" "$stage" || { say "staging failed"; exit 125; }
for b in "sandbox ." "sandbox-netstack ./network/sandbox-netstack" "probe ./tests/probe"; do
	set -- $b
	as_user go build -o "$stage/bin/$1" "$2" || { say "go build $2 failed"; exit 125; }
done
as_user go test -c -o "$stage/bin/tests.test" ./tests/ &&
	as_user go test -c -o "$stage/bin/systemdcgroup.test" ./systemdcgroup/ || { say "go test -c failed"; exit 125; }
say "binaries built after $((SECONDS - started)) s"

g=/home/sbtest/vm
"$here/run.sh" -s "$stage:$g" -e SANDBOX_TESTS_MUST_WORK=1 -e SANDBOX_TESTS_ENFORCE=1 \
	-e SANDBOX_TEST_BINARIES=$g/bin -e PATH=/usr/bin:/bin -C "$g/src" -- bash -c "
		cd $g/src/tests && $g/bin/tests.test -test.count=1 -test.v -test.run '$tests_run'; a=\$?
		cd $g/src/systemdcgroup && $g/bin/systemdcgroup.test -test.count=1 -test.skip '$scope_skip' && exit \$a"
rc=$?
say "exit $rc after $((SECONDS - started)) s"
exit "$rc"
