package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"sandbox/completion"
)

// script is the completion script of this CLI for shell.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var cli CLI
	p, err := kong.New(&cli, kong.Name("sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := completion.Script(shell, p.Model)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every subcommand and every flag of run is in every script.
func TestCompletionCoversModel(t *testing.T) {
	var cli CLI
	p, err := kong.New(&cli, kong.Name("sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	names := slices.Clone(subcommands)
	for _, n := range p.Model.Children {
		if n.Name != "run" {
			continue
		}
		for _, f := range n.Flags {
			names = append(names, "--"+f.Name)
			if f.Short != 0 {
				names = append(names, "-"+string(f.Short))
			}
		}
	}
	if len(names) < len(subcommands)+20 {
		t.Fatalf("model has too few names: %q", names)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		s := completionScript(t, shell)
		for _, n := range names {
			if !strings.Contains(s, n) {
				t.Errorf("%s script lacks %q", shell, n)
			}
		}
	}
}

// completionDir holds the tools the completion functions call: a fake
// sandbox binary that lists profiles, and a store of layers.
func completionDir(t *testing.T) (bin, data string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "sandbox")
	fake := "#!/bin/sh\n[ \"$1 $2\" = \"profiles --names\" ] && printf 'build\\noffline\\n'\n"
	if err := os.WriteFile(bin, []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(dir, "data")
	for _, d := range []string{"sandbox/mybox", "sandbox/other", "sandbox/.ephemeral"} {
		if err := os.MkdirAll(filepath.Join(data, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin, data
}

func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "sandbox.bash")
	if err := os.WriteFile(script, []byte(completionScript(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	bin, data := completionDir(t)
	// Each case: the words typed, the last being completed ("" for a new
	// one), and the candidates bash would offer. bash splits --map=x at the
	// "=" (COMP_WORDBREAKS), so those come as three words.
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"sandbox", "co"}, "commit completion"},
		{[]string{"sandbox", "se"}, "seccomp"},
		{[]string{"sandbox", "seccomp", ""}, "default"},
		{[]string{"sandbox", "seccomp", "default", "--a"}, "--allow-nested"},
		{[]string{"sandbox", "--ma"}, "--map"},
		{[]string{"sandbox", "--map", ""}, "auto subids single"},
		{[]string{"sandbox", "--map", "=", "s"}, "subids single"},
		{[]string{"sandbox", "--map=s"}, "--map=subids --map=single"},
		{[]string{"sandbox", "--net", "p"}, "pasta"},
		{[]string{"sandbox", "--profile", ""}, "build offline"},
		{[]string{"sandbox", "run", "--profile", "o"}, "offline"},
		{[]string{"sandbox", "diff", ""}, "mybox other"},
		{[]string{"sandbox", "commit", "m"}, "mybox"},
		{[]string{"sandbox", "rm", "mybox", "o"}, "other"},
		{[]string{"sandbox", "--name", ""}, "mybox other"},
		{[]string{"sandbox", "completion", ""}, "bash zsh fish"},
		{[]string{"sandbox", "check", "--j"}, "--json"},
		{[]string{"sandbox", "profiles", "--n"}, "--names"},
		{[]string{"sandbox", "--uid", "0", "--share-net", "=", "false", "--cg"}, "--cgroup"},
		{[]string{"sandbox", "--verbose", "--", "printenv"}, "printenv"},
		{[]string{"sandbox", "diff", "mybox", ""}, ""},
	} {
		var words []string
		for _, w := range c.words {
			words = append(words, "'"+w+"'")
		}
		words[0] = "'" + bin + "'"
		prog := "source " + script + "\nCOMP_WORDS=(" + strings.Join(words, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_sandbox\necho \"${COMPREPLY[*]}\"\n"
		cmd := exec.Command("bash", "--norc", "-c", prog)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+data)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", c.words, err, out)
			continue
		}
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("%q: got %q, want %q", c.words, got, c.want)
		}
	}
}

func TestZshCompletionSyntax(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("zsh is not installed")
	}
	script := filepath.Join(t.TempDir(), "_sandbox")
	if err := os.WriteFile(script, []byte(completionScript(t, "zsh")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("zsh", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	// The tables answer in zsh as in bash.
	prog := "source " + script + " 2>/dev/null; _sandbox_subs ''; _sandbox_flag run --map; _sandbox_arg commit 3; _sandbox_specs subs seccomp"
	out, err := exec.Command("zsh", "-f", "-c", "compdef() { :; }; "+prog).CombinedOutput()
	want := strings.Join(subcommands, " ") + "\nenum:auto subids single\nfile\ndefault:Print the default seccomp profile as OCI/Docker JSON, to start a profile of your own from\n"
	if err != nil || string(out) != want {
		t.Errorf("zsh tables: %v\n got %q\nwant %q", err, out, want)
	}
}

// The zsh script walks the words as the bash one does (one _sandbox_walk):
// with zsh's completion builtins stubbed to print what they are given.
func TestZshCompletion(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("zsh is not installed")
	}
	path := filepath.Join(t.TempDir(), "_sandbox")
	if err := os.WriteFile(path, []byte(completionScript(t, "zsh")), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, data := completionDir(t)
	stubs := `compdef() { :; }
compadd() { [[ $1 == -- ]] && shift; print -r -- "compadd $*"; }
_describe() { local -a l; for s in ${(P)4}; do l+=(${s%%:*}); done; print -r -- "describe $2: $l"; }
_files() { print files; }
_command_names() { print commands; }
_normal() { print -r -- "normal $CURRENT ${words[*]}"; }
compset() { print -r -- "compset $*"; }
`
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"sandbox", "se"}, "describe commands: run diff commit"},
		{[]string{"sandbox", "seccomp", ""}, "describe commands: default"},
		{[]string{"sandbox", "--map", ""}, "compadd auto subids single"},
		{[]string{"sandbox", "--map=s"}, "compset -P *=\ncompadd auto subids single"},
		{[]string{"sandbox", "--profile", ""}, "compadd build offline"},
		{[]string{"sandbox", "rm", "mybox", ""}, "compadd mybox other"},
		{[]string{"sandbox", "--uid", "0", "--cg"}, "describe flags: --hostname --uid"},
		{[]string{"sandbox", "make", ""}, "files"},
		{[]string{"sandbox", "--verbose", "--", "printenv", "x"}, "normal 2 printenv x"},
		{[]string{"sandbox", "--uid", "0", "--", ""}, "normal 1"},
	} {
		var words []string
		for _, w := range c.words {
			words = append(words, "'"+w+"'")
		}
		words[0] = "'" + bin + "'"
		prog := stubs + "source " + path + "\nwords=(" + strings.Join(words, " ") + ")\nCURRENT=" + strconv.Itoa(len(words)) + "\n_sandbox\n"
		cmd := exec.Command("zsh", "-f", "-c", prog)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+data)
		out, err := cmd.CombinedOutput()
		want := strings.ReplaceAll(c.want, "\\n", "\n")
		if got := strings.TrimSpace(string(out)); err != nil || !strings.HasPrefix(got, want) {
			t.Errorf("%q: %v\n got %q\nwant %q...", c.words, err, got, want)
		}
	}
}

func TestFishCompletion(t *testing.T) {
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("fish is not installed")
	}
	script := filepath.Join(t.TempDir(), "sandbox.fish")
	if err := os.WriteFile(script, []byte(completionScript(t, "fish")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("fish", "--no-execute", script).CombinedOutput(); err != nil {
		t.Fatalf("fish --no-execute: %v\n%s", err, out)
	}
	bin, data := completionDir(t)
	for _, c := range []struct{ line, want string }{
		{"sandbox co", "commit completion"},
		{"sandbox --map ", "auto subids single"},
		{"sandbox --map=su", "--map=subids"},
		{"sandbox --profile ", "build offline"},
		{"sandbox rm ", "mybox other"},
		{"sandbox seccomp default --a", "--allow-nested"},
		{"sandbox --uid 0 -- printen", "printenv"},
		{"sandbox completion f", "fish"},
	} {
		// complete -C runs the registered completion as a user's TAB would.
		prog := "function sandbox; command " + bin + " $argv; end; source " + script +
			"; complete -C '" + c.line + "'"
		cmd := exec.Command("fish", "--no-config", "-c", prog)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+data, "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		var names []string // without the descriptions
		for _, l := range compLines(string(out)) {
			name, desc, _ := strings.Cut(l, "\t")
			if c.line == "sandbox co" && desc == "" {
				t.Errorf("%q: %q has no description", c.line, name)
			}
			names = append(names, name)
		}
		slices.Sort(names) // fish sorts them
		want := strings.Fields(c.want)
		slices.Sort(want)
		if got := strings.Join(names, " "); err != nil || got != strings.Join(want, " ") {
			t.Errorf("%q: %v\n got %q\nwant %q", c.line, err, got, c.want)
		}
	}
}

func compLines(s string) []string {
	var out []string
	for l := range strings.Lines(strings.TrimSpace(s)) {
		out = append(out, strings.TrimSuffix(l, "\n"))
	}
	return out
}
