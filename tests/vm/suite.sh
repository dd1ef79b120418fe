#!/usr/bin/env bash
# tests/vm/suite.sh USER CHECKOUT
#
# CI's VM job (.ci/run calls it as root): the whole test suite on the second
# platform, in the guest of tests/vm/run.sh: Debian 12, kernel 6.1, systemd as
# PID 1, unified cgroup v2, a user manager that delegates every controller,
# the test packages .ci/run installs on its host, and a test host of its own
# for the network tests. Every test package runs as the guest's unprivileged
# user in its own session, with SANDBOX_TESTS_MUST_WORK=1 (a missing feature
# fails instead of skipping) and SANDBOX_TESTS_ENFORCE=1 (so do the limits).
#
# Nothing of the suite is compiled under emulation that need not be: the test
# binaries (`go test -c`), sandbox, sandbox-netstack, sandbox-image, escapee
# and the probe are built here, as USER with USER's Go caches, and the tests
# take them from SANDBOX_TEST_BINARIES. The few tests that run the go command
# themselves (a cgo build of sandbox-netstack; tests/oci's build of sandbox)
# find Go read-only at /usr/local/go, a vendor directory, and a build cache
# that this script fills here first with the same builds from the same paths,
# so the guest only links.
#
# The staging directory, $SANDBOX_VM_STAGE (default USER's
# ~/.cache/sandbox-vm), is USER's and is kept between runs (the guest's build
# cache lives there); the guest sees it at the same path.
#
# Environment: SANDBOX_VM_PKGS (package patterns; default ./...),
# SANDBOX_VM_LANES (1: one package at a time; default 2),
# SANDBOX_VM_TESTS (a -test.run pattern for every package; default all),
# and those of run.sh (SANDBOX_VM_TIMEOUT: 1500 s here).
#
# Prints go test's summary lines per package, the failures in full, and every
# skipped test; exits with the tests' status (125: the job itself failed).

set -uo pipefail

say() { printf 'vm-suite: %s\n' "$*" >&2; }
[ $# = 2 ] || { say "usage: $0 USER CHECKOUT"; exit 2; }
user=$1 checkout=$(cd "$2" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pkgs=${SANDBOX_VM_PKGS:-./...}
tests_run=${SANDBOX_VM_TESTS:-}
# Timings mean nothing under emulation: systemdcgroup's latency benchmark,
# and the bound on a profile's reading cost (20 ms, ~1 ms natively). And the
# Debian image test installs from Debian's mirror, which the guest cannot
# reach (its default route goes nowhere); it runs on the CI host.
tests_skip='^(TestStartScopeLatency|TestProfileCost|TestImageDebianAptInstall)$'
started=$SECONDS
# The guest's boot and the suite (~10 min when warm).
export SANDBOX_VM_TIMEOUT=${SANDBOX_VM_TIMEOUT:-1500}

IFS=: read -r _ _ uid gid _ home _ < <(getent passwd "$user") || { say "no user $user"; exit 125; }
stage=${SANDBOX_VM_STAGE:-$home/.cache/sandbox-vm}
go_env=(HOME="$home" USER="$user" PATH="/usr/local/go/bin:/usr/bin:/bin" GOTOOLCHAIN=local
	GOCACHE="${GOCACHE:-$home/.cache/go-build}" GOMODCACHE="${GOMODCACHE:-$home/go/pkg/mod}"
	GOFLAGS=-mod=mod GOPROXY=off GOTELEMETRY=off)
as_user() { (cd "$stage/src" && setpriv --reuid="$uid" --regid="$gid" --init-groups -- env -i "${go_env[@]}" "$@") </dev/null; }

# The guest first: a cold build is the longest part of a first run.
"$here/run.sh" --prepare || exit 125

# $stage/src: the sources (the tests run in their package directories);
# $stage/bin: what SANDBOX_TEST_BINARIES names; $stage/test: the test
# binaries; $stage/gocache: the guest's build cache.
setpriv --reuid="$uid" --regid="$gid" --init-groups -- mkdir -p "$stage" || { say "mkdir $stage failed"; exit 125; }
rm -rf "$stage/src" "$stage/bin" "$stage/test" &&
	cp -a "$checkout/." "$stage/src/" && rm -rf "$stage/src/.git" "$stage/src/vendor" &&
	mkdir -p "$stage/bin" "$stage/test" "$stage/gocache" && chown -R "$uid:$gid" "$stage" ||
	{ say "staging in $stage failed"; exit 125; }
for b in "sandbox ." "sandbox-netstack ./network/sandbox-netstack" "sandbox-image ./image/sandbox-image" \
	"probe ./tests/probe" "escapee ./tests/escape/escapee"; do
	set -- $b
	as_user env CGO_ENABLED=0 go build -o "$stage/bin/$1" "$2" || { say "go build $2 failed"; exit 125; }
done
# One directory of test binaries, named by their package's path.
list=$(as_user go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' $pkgs) ||
	{ say "go list $pkgs failed"; exit 125; }
[ -n "$list" ] || { say "no test packages in $pkgs"; exit 125; }
while read -r pkg dir; do
	as_user env CGO_ENABLED=0 go test -c -o "$stage/test/${pkg//\//_}.test" "$pkg" ||
		{ say "go test -c $pkg failed"; exit 125; }
	echo "$pkg .${dir#"$stage/src"} ${pkg//\//_}.test"
done <<<"$list" >"$stage/test/list" || exit 125
# What the guest builds itself, built here first into its cache.
as_user go mod vendor &&
	as_user env GOFLAGS=-mod=vendor GOCACHE="$stage/gocache" CGO_ENABLED=0 go build -o /dev/null . &&
	as_user env GOFLAGS=-mod=vendor GOCACHE="$stage/gocache" CGO_ENABLED=1 go build -o /dev/null ./network/sandbox-netstack ||
	{ say "seeding the guest's build cache failed"; exit 125; }
say "binaries built after $((SECONDS - started)) s: $(wc -l <"$stage/test/list") test packages"

# The guest's side, as root first: a default route (pasta takes its
# addresses from the interface that has it) on a dummy link, where packets go
# nowhere (not in 10.0.2.0/24: slirp4netns and sandbox-netstack use that
# inside, and the tests reach the host at its own address), and a test host as .ci/run makes one: a network namespace on a veth
# pair serving the probe.
cat >"$stage/root.sh" <<EOF
set -e
ip link add sbuplink type dummy
ip addr add 172.30.0.15/24 dev sbuplink
ip -6 addr add fd00:30::15/64 dev sbuplink nodad
ip link set sbuplink up
ip route add default via 172.30.0.1
ip -6 route add default via fd00:30::1
ip netns add sbtest-host
ip link add sbth0 type veth peer name sbth1 netns sbtest-host
ip addr add 10.203.0.1/24 dev sbth0
ip -6 addr add fd03:203::1/64 dev sbth0 nodad
ip link set sbth0 up
ip -n sbtest-host addr add 10.203.0.2/24 dev sbth1
ip -n sbtest-host -6 addr add fd03:203::2/64 dev sbth1 nodad
ip -n sbtest-host link set sbth1 up
ip -n sbtest-host link set lo up
ip netns exec sbtest-host $stage/bin/probe serve "[::]:8080" </dev/null >/dev/null 2>&1 &
EOF
# Then every package as the user, in two lanes (as go test runs two packages
# at a time on two CPUs): the integration tests alone, the other packages
# beside them; SANDBOX_VM_LANES=1: one after the other. Each package prints go test's line, a failure's output in full
# (less the RUN and PASS lines), and its skips.
cat >"$stage/guest.sh" <<'EOF'
stage=$1 run=$2 skip=$3 lanes=$4
res=$stage/results
mkdir -p "$res"
one() { # PKG DIR TEST: run it, print its result under the lock
	local pkg=$1 dir=$2 test=$3 t0=$SECONDS r
	(cd "$stage/src/$dir" && exec "$stage/test/$test" -test.count=1 -test.v -test.timeout=20m \
		${run:+-test.run "$run"} -test.skip "$skip") >"$res/$test.out" 2>&1
	r=$?
	{
		flock 9
		if [ $r = 0 ]; then
			echo "ok   $pkg $((SECONDS - t0))s"
		else
			grep -vE '^=== (RUN|PAUSE|CONT|NAME)|^ *--- (PASS|SKIP)' "$res/$test.out"
			echo "FAIL $pkg $((SECONDS - t0))s (exit $r)"
			touch "$res/failed"
		fi
		grep -E '^ *--- SKIP' "$res/$test.out" | sed "s|^ *|SKIP $pkg: |"
	} 9>"$res/lock"
}
if [ "$lanes" = 1 ]; then
	while read -r p d t; do one "$p" "$d" "$t"; done <"$stage/test/list"
else
	grep -E '/tests ' "$stage/test/list" | while read -r p d t; do one "$p" "$d" "$t"; done &
	grep -vE '/tests ' "$stage/test/list" | while read -r p d t; do one "$p" "$d" "$t"; done
	wait
fi
[ ! -e "$res/failed" ]
EOF
chown "$uid:$gid" "$stage/root.sh" "$stage/guest.sh"

"$here/run.sh" -s "$stage" -s /usr/local/go:/usr/local/go:keep -r "$stage/root.sh" \
	-e SANDBOX_TESTS_MUST_WORK=1 -e SANDBOX_TESTS_ENFORCE=1 -e SANDBOX_TEST_BINARIES="$stage/bin" \
	-e SANDBOX_TEST_HOST=10.203.0.2:8080 -e SANDBOX_TEST_HOST6="[fd03:203::2]:8080" \
	-e GOCACHE="$stage/gocache" -e GOFLAGS=-mod=vendor -e GOPROXY=off -e GOTOOLCHAIN=local \
	-e GOTELEMETRY=off -e PATH=/usr/local/go/bin:/usr/bin:/bin -C "$stage/src" -- \
	bash "$stage/guest.sh" "$stage" "$tests_run" "$tests_skip" "${SANDBOX_VM_LANES:-2}"
rc=$?
say "exit $rc after $((SECONDS - started)) s"
exit "$rc"
