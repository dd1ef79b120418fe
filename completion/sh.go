package completion

import (
	"fmt"
	"strings"
)

// The three scripts share one walk over the words typed so far: a word "--"
// hands the rest to the shell's own completion of the user's command; a flag
// that takes a value eats the next word; at the top level, a flag of the
// default command or a word that is not a subcommand means `run`; a
// subcommand's own subcommand extends the command path; every other word is a
// positional argument. bash and zsh run the one _sandbox_walk (shWalk), fish
// its own dialect of it. The tables the walk consults are generated from
// kong's model: _sandbox_subs (subcommands of a command), _sandbox_flags (its
// flags), _sandbox_flag (the kind of value a flag takes, empty for a switch)
// and _sandbox_arg (the kind of the Nth positional).

// shq quotes s for sh (bash and zsh).
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// shTables writes the four tables as sh functions (bash and zsh read them
// alike), with "name:description" lines in _sandbox_specs for zsh.
func shTables(b *strings.Builder, spec []compCmd, withSpecs bool) {
	b.WriteString("# _sandbox_subs CMD: the subcommands of CMD (\"\" is the top level).\n_sandbox_subs() {\n\tcase $1 in\n")
	for _, c := range spec {
		if len(c.subs) > 0 {
			fmt.Fprintf(b, "\t%s) echo %s ;;\n", shq(c.path), strings.Join(subNames(c.subs), " "))
		}
	}
	b.WriteString("\tesac\n}\n\n# _sandbox_flags CMD: the flags of CMD.\n_sandbox_flags() {\n\tcase $1 in\n")
	for _, c := range spec {
		fmt.Fprintf(b, "\t%s) echo %s ;;\n", shq(c.path), strings.Join(flagNames(c.flags), " "))
	}
	b.WriteString("\tesac\n}\n\n# _sandbox_flag CMD FLAG: the kind of value FLAG takes; nothing for a switch.\n_sandbox_flag() {\n\tcase $1 in\n")
	for _, c := range spec {
		kinds, by := valueFlags(c.flags)
		if len(kinds) == 0 {
			continue
		}
		fmt.Fprintf(b, "\t%s)\n\t\tcase $2 in\n", shq(c.path))
		for _, k := range kinds {
			fmt.Fprintf(b, "\t\t%s) echo %s ;;\n", strings.Join(by[k], " | "), shq(k))
		}
		b.WriteString("\t\tesac\n\t\t;;\n")
	}
	b.WriteString("\tesac\n}\n\n# _sandbox_arg CMD N: the kind of CMD's positional argument N (from 0).\n_sandbox_arg() {\n\tcase $1 in\n")
	for _, c := range spec {
		if len(c.args) == 0 {
			continue
		}
		fmt.Fprintf(b, "\t%s)\n\t\tcase $2 in\n", shq(c.path))
		for _, a := range argCases(c) {
			fmt.Fprintf(b, "\t\t%s) echo %s ;;\n", a.pat, shq(a.kind))
		}
		b.WriteString("\t\tesac\n\t\t;;\n")
	}
	b.WriteString("\tesac\n}\n\n")
	if !withSpecs {
		return
	}
	b.WriteString("# _sandbox_specs subs|flags CMD: name:description lines for _describe.\n_sandbox_specs() {\n\tcase \"$1 $2\" in\n")
	esc := func(s string) string { return strings.ReplaceAll(s, ":", `\:`) }
	for _, c := range spec {
		var subs, flags []string
		for _, s := range c.subs {
			subs = append(subs, shq(esc(s.name)+":"+s.help))
		}
		for _, f := range c.flags {
			flags = append(flags, shq(esc(f.long)+":"+f.help))
			if f.short != "" {
				flags = append(flags, shq(esc(f.short)+":"+f.help))
			}
		}
		if len(subs) > 0 {
			fmt.Fprintf(b, "\t%s) printf '%%s\\n' %s ;;\n", shq("subs "+c.path), strings.Join(subs, " "))
		}
		fmt.Fprintf(b, "\t%s) printf '%%s\\n' %s ;;\n", shq("flags "+c.path), strings.Join(flags, " "))
	}
	b.WriteString("\tesac\n}\n\n")
}

// shWalk is the walk over the words typed so far, once for bash and zsh: it
// is written in the sh both read alike (dynamic scope sets the caller's
// locals).
const shWalk = `# _sandbox_walk EQ WORD...: walk the words before the cursor (after the
# command's name); set the caller's cmd (the command path), kind and want (a
# flag's value is due, of that kind), npos (positionals so far) and dash (the
# number of words up to a "--", where the walk stops). EQ is set where the
# shell splits --flag=value at the = (bash).
_sandbox_walk() {
	local eq=$1 w n=0
	shift
	for w in "$@"; do
		n=$((n + 1))
		if [[ -n $eq && $w == "=" ]]; then
			want=1
			continue
		fi
		if [[ -n $want ]]; then
			want=""
			continue
		fi
		case $w in
		--)
			dash=$n
			return 0
			;;
		-*=*) ;;
		-*)
			kind=$(_sandbox_flag "$cmd" "$w")
			[[ -n $kind ]] && want=1
			[[ -z $cmd && $w != --help && $w != -h ]] && cmd=run
			;;
		*)
			if [[ -z $cmd ]]; then
				if _sandbox_has "$(_sandbox_subs '')" "$w"; then cmd=$w; else cmd=run npos=1; fi
			elif ((npos == 0)) && _sandbox_has "$(_sandbox_subs "$cmd")" "$w"; then
				cmd="$cmd $w"
			else
				npos=$((npos + 1))
			fi
			;;
		esac
	done
	return 0
}
`

// argCase is a case pattern for a positional's index, and its kind.
type argCase struct{ pat, kind string }

// argCases are the cases of a command's positionals, the catch-all last; after
// a passthrough command come its arguments (files).
func argCases(c compCmd) []argCase {
	var out []argCase
	for i, k := range c.args {
		if c.more && i == len(c.args)-1 {
			if k == "command" {
				out = append(out, argCase{fmt.Sprint(i), k})
				k = "file"
			}
			out = append(out, argCase{"*", k})
			continue
		}
		out = append(out, argCase{fmt.Sprint(i), k})
	}
	return out
}

const bashCommon = `# _sandbox_sandboxes: the named sandboxes, the directories of the store.
_sandbox_sandboxes() {
	local d=${XDG_DATA_HOME:-} n
	[[ $d == /* ]] || d=$HOME/.local/share
	for n in "$d"/sandbox/*/; do
		[[ -d $n ]] || continue
		n=${n%/}
		printf '%s\n' "${n##*/}"
	done
}

# _sandbox_has LIST WORD: WORD is one of the words of LIST.
_sandbox_has() {
	local w
	for w in $1; do
		[[ $w == "$2" ]] && return 0
	done
	return 1
}
`

const bashMain = `# _sandbox_values KIND WORD BIN [PREFIX]: COMPREPLY for a value of KIND.
_sandbox_values() {
	local kind=$1 word=$2 bin=$3 prefix=${4:-} w
	local -a words=()
	COMPREPLY=()
	case $kind in
	enum:*) read -ra words <<<"${kind#enum:}" ;;
	profile) mapfile -t words < <("$bin" profiles --names 2>/dev/null) ;;
	sandbox) mapfile -t words < <(_sandbox_sandboxes) ;;
	file)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$word")
		;;
	command)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -c -- "$word" | sort -u)
		;;
	esac
	for w in "${words[@]}"; do
		[[ $w == "$word"* ]] && COMPREPLY+=("$w")
	done
	if [[ -n $prefix ]]; then
		COMPREPLY=("${COMPREPLY[@]/#/$prefix}")
	fi
	return 0
}

_sandbox() {
	local cur=${COMP_WORDS[COMP_CWORD]} bin=${COMP_WORDS[0]/#\~/$HOME}
	local cmd="" kind="" want="" npos=0 dash=""
	COMPREPLY=()
	_sandbox_walk 1 "${COMP_WORDS[@]:1:COMP_CWORD-1}"
	if [[ -n $dash ]]; then
		if ((dash == COMP_CWORD - 1)); then
			_sandbox_values command "$cur" "$bin"
		else
			_sandbox_values file "$cur" "$bin"
		fi
		return 0
	fi
	if [[ $cur == = ]]; then
		cur=""
		want=1
	fi
	if [[ -n $want ]]; then
		_sandbox_values "$kind" "$cur" "$bin"
		return 0
	fi
	case $cur in
	-*=*)
		_sandbox_values "$(_sandbox_flag "$cmd" "${cur%%=*}")" "${cur#*=}" "$bin" "${cur%%=*}="
		return 0
		;;
	-*)
		mapfile -t COMPREPLY < <(compgen -W "$(_sandbox_flags "$cmd")" -- "$cur")
		return 0
		;;
	esac
	if [[ -z $cmd ]] || { ((npos == 0)) && [[ -n $(_sandbox_subs "$cmd") ]]; }; then
		mapfile -t COMPREPLY < <(compgen -W "$(_sandbox_subs "$cmd")" -- "$cur")
		return 0
	fi
	_sandbox_values "$(_sandbox_arg "$cmd" "$npos")" "$cur" "$bin"
}

complete -F _sandbox sandbox
`

// bashCompletion is the bash script: a completion function _sandbox for the
// command sandbox.
func bashCompletion(spec []compCmd) string {
	var b strings.Builder
	b.WriteString("# bash completion for sandbox; generated by `sandbox completion bash`.\n" +
		"# Load it with: source <(sandbox completion bash)\n\n")
	shTables(&b, spec, false)
	b.WriteString(bashCommon + "\n" + shWalk + "\n" + bashMain)
	return b.String()
}

const zshMain = `# _sandbox_sandboxes: the named sandboxes, the directories of the store.
_sandbox_sandboxes() {
	local d=${XDG_DATA_HOME:-}
	[[ $d == /* ]] || d=$HOME/.local/share
	print -rl -- $d/sandbox/*(N/:t)
}

# _sandbox_has LIST WORD: WORD is one of the words of LIST.
_sandbox_has() {
	(( ${${=1}[(Ie)$2]} ))
}

# _sandbox_values KIND: complete a value of KIND.
_sandbox_values() {
	case $1 in
	enum:*) compadd -- ${=${1#enum:}} ;;
	profile) compadd -- ${(f)"$(${~words[1]} profiles --names 2>/dev/null)"} ;;
	sandbox) compadd -- ${(f)"$(_sandbox_sandboxes)"} ;;
	file) _files ;;
	command) _command_names -e ;;
	esac
}

_sandbox() {
	local cur=${words[CURRENT]} cmd="" kind="" want="" npos=0 dash=""
	local -a specs
	_sandbox_walk "" "${(@)words[2,CURRENT-1]}"
	if [[ -n $dash ]]; then
		words=("${(@)words[dash+2,-1]}")
		(( CURRENT -= dash + 1 ))
		_normal
		return
	fi
	if [[ -n $want ]]; then
		_sandbox_values "$kind"
		return
	fi
	case $cur in
	-*=*)
		kind=$(_sandbox_flag "$cmd" "${cur%%=*}")
		compset -P '*='
		_sandbox_values "$kind"
		return
		;;
	-*)
		specs=(${(f)"$(_sandbox_specs flags "$cmd")"})
		_describe -t flags flag specs
		return
		;;
	esac
	if [[ -z $cmd ]] || { (( npos == 0 )) && [[ -n $(_sandbox_subs "$cmd") ]] }; then
		specs=(${(f)"$(_sandbox_specs subs "$cmd")"})
		_describe -t commands command specs
		return
	fi
	_sandbox_values "$(_sandbox_arg "$cmd" "$npos")"
}

if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
	_sandbox "$@"
else
	compdef _sandbox sandbox
fi
`

// zshCompletion is the zsh script: an autoloadable _sandbox (#compdef) that
// also works when sourced after compinit.
func zshCompletion(spec []compCmd) string {
	var b strings.Builder
	b.WriteString("#compdef sandbox\n# zsh completion for sandbox; generated by `sandbox completion zsh`.\n" +
		"# Put it in a directory of $fpath as _sandbox, or source it after compinit.\n\n")
	shTables(&b, spec, true)
	b.WriteString(shWalk + "\n" + zshMain)
	return b.String()
}
