#!/usr/bin/env bash
# tests/oci/conformance.sh [-o TABLE.md] [-r RUNTIMES] [-k] [TEST...]
#
# An optional report, not part of CI: the validation programs of the OCI
# conformance suite (github.com/opencontainers/runtime-tools v0.9.0) run
# against runc and against sandbox-runc on this machine, one line per test.
# Run it by hand, as an unprivileged user, from the repository root:
#
#	bash tests/oci/conformance.sh -o /tmp/conformance.md
#
# It needs Go (the module proxy), runc (Debian: apt install runc), and
# util-linux's unshare with --map-auto plus newuidmap/newgidmap (uidmap) and
# sub-IDs for the user.
#
# The suite is built in a temporary directory as a module of its own, so
# this repository's go.mod never depends on it. v0.9.0 is the only version
# the proxy serves; it predates Go modules (Godeps), so the script writes its
# go.mod, pins the dependencies it builds with (runtime-spec v1.1.0, selinux
# v1.0.0), and makes the one change runtime-spec v1.1.0 needs: State.Status
# became the type ContainerState, and util/test.go indexes a map of strings
# with it.
#
# Rootless as podman runs a runtime: each test runs as root of a user
# namespace that maps the user's sub-IDs (`unshare --map-auto
# --map-root-user`, what `podman unshare` gives), and the suite's configs
# ask for no user namespace of their own (its default generator's), which is
# podman's rootless config too. The runtime gets a state directory of its
# own (--root) through a wrapper, as podman passes one.
#
# Verdicts: pass (the program exited 0, printed at least one "ok" and no "not
# ok"), skip (every TAP line a SKIP), fail (anything else, including a
# timeout of 120 s). The note is the runtime's error, or the first "not ok"
# line, or the first "error" of a YAML block, or the last line of stderr,
# or the exit status. The table is Markdown; -r picks the runtimes (default
# "runc sandbox-runc"); -k keeps the work directory (each test's TAP and
# stderr under log/RUNTIME/TEST); TEST names (e.g. pidfile hostname) narrow
# the run.
set -euo pipefail

out=""
runtimes="runc sandbox-runc"
keep=""
while getopts "o:r:k" opt; do
	case $opt in
	o) out=$OPTARG ;;
	r) runtimes=$OPTARG ;;
	k) keep=1 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))

if [ "$(id -u)" = 0 ]; then
	echo "conformance.sh: run it as an unprivileged user (podman's rootless situation is the point)" >&2
	exit 2
fi
for tool in go unshare newuidmap; do
	command -v "$tool" >/dev/null || { echo "conformance.sh: $tool not found" >&2; exit 2; }
done
if [[ " $runtimes " == *" runc "* ]] && ! command -v runc >/dev/null; then
	echo "conformance.sh: runc not found (apt install runc), or pass -r sandbox-runc" >&2
	exit 2
fi
repo=$(pwd)
[ -f "$repo/go.mod" ] && grep -q '^module sandbox$' "$repo/go.mod" || {
	echo "conformance.sh: run it from the repository root" >&2
	exit 2
}

work=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-conformance-XXXXXX")
chmod 755 "$work"
cleanup() {
	if [ -n "$keep" ]; then
		echo "conformance.sh: kept $work" >&2
	else
		# Bundles hold files of sub-IDs: removed as root of the namespace.
		unshare --map-auto --map-root-user rm -rf "$work" 2>/dev/null || rm -rf "$work"
	fi
}
trap cleanup EXIT

# Our binary, static as the README's install line builds it.
mkdir -p "$work/bin"
CGO_ENABLED=0 go build -o "$work/bin/sandbox" "$repo"
ln -s sandbox "$work/bin/sandbox-runc"

# The suite, as a module of its own outside this repository.
src=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json github.com/opencontainers/runtime-tools@v0.9.0 |
	sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "conformance.sh: go mod download of runtime-tools v0.9.0 failed" >&2; exit 1; }
cp -r "$src" "$work/rt"
chmod -R u+w "$work/rt"
cd "$work/rt"
rm -rf Godeps
cat >go.mod <<'EOF'
module github.com/opencontainers/runtime-tools

go 1.21

require (
	github.com/blang/semver v3.5.1+incompatible
	github.com/hashicorp/go-multierror v1.1.1
	github.com/mndrix/tap-go v0.0.0-20171203230836-629fa407e90b
	github.com/mrunalp/fileutils v0.5.1
	github.com/opencontainers/runtime-spec v1.1.0
	github.com/opencontainers/selinux v1.0.0
	github.com/satori/go.uuid v1.2.0
	github.com/sirupsen/logrus v1.10.2
	github.com/stretchr/testify v1.12.1
	github.com/syndtr/gocapability v0.0.0-20200815063812-42c35b437635
	github.com/urfave/cli v1.22.17
	github.com/xeipuuv/gojsonschema v1.2.0
	golang.org/x/sys v0.50.0
)
EOF
fix='lifecycleStatusMap\[state.Status\]'
grep -q "$fix" validation/util/test.go || { echo "conformance.sh: util/test.go changed; the fix no longer applies" >&2; exit 1; }
sed -i "s/$fix/lifecycleStatusMap[string(state.Status)]/" validation/util/test.go
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
echo "conformance.sh: building the suite (about a minute)" >&2
CGO_ENABLED=0 go build -o runtimetest ./cmd/runtimetest
mkdir -p "$work/tests" "$work/tmp"
go build -o "$work/tests/" ./validation/...

tests=("$@")
if [ ${#tests[@]} = 0 ]; then
	mapfile -t tests < <(ls "$work/tests")
fi

# One wrapper per runtime: a state directory of its own, as podman gives.
for r in $runtimes; do
	bin=$(command -v runc)
	[ "$r" = sandbox-runc ] && bin=$work/bin/sandbox-runc
	mkdir -p "$work/state-$r"
	printf '#!/bin/sh\nexec %q --root %q "$@"\n' "$bin" "$work/state-$r" >"$work/bin/rt-$r"
	chmod 755 "$work/bin/rt-$r"
done

# verdict FILE.tap FILE.err CODE prints "verdict<TAB>note".
verdict() {
	local tap=$1 err=$2 code=$3 note
	# The runtime's own error where it printed one (ours: "sandbox-runc:
	# ...", runc's: msg="..."), else the first failed TAP line, else
	# stderr's last line.
	# (No pipe into head or grep -q: with pipefail, the writer's SIGPIPE
	# would fail the pipe.)
	note=$(sed -n 's/^sandbox-runc: //p; s/.*level=error msg="\(.*\)"$/\1/p' "$err" | sed -n 1p)
	[ -n "$note" ] || note=$(grep -m1 '^not ok' "$tap" || true)
	# Some programs report a failure only as an "error" in a YAML block.
	[ -n "$note" ] || note=$(sed -n 's/^ *"error": "\([^"\\]*\).*/\1/p' "$tap" | sed -n 1p)
	[ -n "$note" ] || note=$(grep -v '^\s*$' "$err" | tail -n1 || true)
	[ -n "$note" ] || note="exit $code, no test reported"
	note=$(printf '%s' "$note" | tr '|\t' '/ ' | cut -c1-110)
	if [ "$code" = 124 ] || [ "$code" = 137 ]; then
		printf 'fail\ttimeout; %s\n' "$note"
	elif [ "$code" = 0 ] && grep -q '^ok' "$tap" && ! grep -q '^not ok' "$tap"; then
		if [ "$(grep '^ok' "$tap" | grep -vc '# SKIP')" -gt 0 ]; then
			printf 'pass\t\n'
		else
			printf 'skip\t%s\n' "$(grep -m1 '# SKIP' "$tap" | sed 's/.*# SKIP *//' | cut -c1-110)"
		fi
	else
		printf 'fail\t%s\n' "$note"
	fi
}

declare -A res
declare -A passed
for t in "${tests[@]}"; do
	for r in $runtimes; do
		log=$work/log/$r/$t
		mkdir -p "$log"
		set +e
		# As root of a user namespace with the user's sub-IDs; cwd holds
		# runtimetest and the rootfs tarball, which the programs expect.
		# TMPDIR: the bundles the programs make (files of sub-IDs) go under
		# $work, which the cleanup removes as root of the namespace.
		(cd "$work/rt" && RUNTIME=$work/bin/rt-$r TMPDIR=$work/tmp timeout -k 5 120 \
			unshare --map-auto --map-root-user "$work/tests/$t" >"$log/tap" 2>"$log/err" </dev/null)
		code=$?
		set -e
		v=$(verdict "$log/tap" "$log/err" "$code")
		res[$t,$r]=$v
		[ "${v%%$'\t'*}" = pass ] && passed[$r]=$((${passed[$r]:-0} + 1))
		echo "conformance.sh: $t $r: ${v%%$'\t'*}" >&2
	done
	# Leftover containers of a failed test: deleted in the same situation.
	for r in $runtimes; do
		for id in $(ls "$work/state-$r" 2>/dev/null); do
			[ -d "$work/state-$r/$id" ] || continue
			unshare --map-auto --map-root-user "$work/bin/rt-$r" delete --force "$id" >/dev/null 2>&1 || true
		done
	done
done

{
	echo "OCI runtime-tools v0.9.0 validation, $(date -u '+%Y-%m-%d'), $(uname -sr), rootless as podman runs a runtime:"
	echo
	printf '| test |'
	for r in $runtimes; do printf ' %s |' "$r"; done
	echo ' note |'
	printf '|---|'
	for r in $runtimes; do printf -- '---|'; done
	echo '---|'
	for t in "${tests[@]}"; do
		printf '| %s |' "$t"
		notes=""
		for r in $runtimes; do
			v=${res[$t,$r]}
			printf ' %s |' "${v%%$'\t'*}"
			n=${v#*$'\t'}
			[ -n "$n" ] && notes+="${notes:+; }$r: $n"
		done
		printf ' %s |\n' "$notes"
	done
	echo
	printf 'Passed, of %d:' "${#tests[@]}"
	for r in $runtimes; do printf ' %s %d;' "$r" "${passed[$r]:-0}"; done
	echo
} >"$work/table.md"
cat "$work/table.md"
[ -z "$out" ] || cp "$work/table.md" "$out"
