package main

import (
	"os/exec"
	"slices"
	"strings"

	"sandbox/quote"
)

// parseErrorLine is the one line printed for an error of kong's parse (or of a
// Validate): what is wrong, then what to do.
func parseErrorLine(args []string, err error) string {
	// kong names the command a Validate error came from; the flags before
	// "--" are run's, the default command, so "run: " says nothing. Those
	// errors are ours, written to name their way out.
	msg, ours := strings.CutPrefix(err.Error(), "run: ")
	ours = ours && !strings.HasPrefix(msg, "unknown flag") // Validate's catch-all for kong
	if hint := forgottenDashes(args); hint != "" {
		if i := strings.Index(msg, ", did you mean"); i >= 0 {
			msg = msg[:i] // kong's guess is one of our flags; the user meant a program
		}
		return args[0] + ": " + msg + "; " + hint
	}
	if ours || strings.Contains(msg, "fix") || strings.Contains(msg, "see sandbox") {
		return msg // it names its way out already
	}
	return msg + " (see sandbox --help)"
}

// forgottenDashes says how to run a program that shares its name with one of
// our commands (ls, rm, diff) when the "--" before it was left out.
func forgottenDashes(args []string) string {
	if len(args) == 0 || !slices.Contains(subcommands, args[0]) || slices.Contains(args, "--") {
		return ""
	}
	if _, err := exec.LookPath(args[0]); err != nil {
		return ""
	}
	return "to run " + args[0] + ", use `sandbox -- " + shellJoin(args) + "`"
}

// shellJoin quotes args for a shell, for a command line the user can paste.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellWord(a)
	}
	return strings.Join(out, " ")
}

func shellWord(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=:,+@%", c)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	if q := quote.Name(s); q != s {
		return q // control or bidi characters: safe to print, not to paste
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
