package completion

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// testCLI has one of each kind of thing a script completes.
type testCLI struct {
	Run struct {
		Map     string   `enum:"a,b" default:"a" help:"Map. More words."`
		Profile string   `help:"Profile."`
		Rw      []string `placeholder:"PATH" help:"Writable."`
		Quiet   bool     `short:"q" help:"Quiet."`
		Cmd     []string `arg:"" optional:"" passthrough:""`
	} `cmd:"" default:"withargs" help:"Run it."`
	Rm struct {
		Names []string `arg:""`
	} `cmd:"" help:"Remove."`
}

func TestScript(t *testing.T) {
	var cli testCLI
	p, err := kong.New(&cli, kong.Name("sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Script("csh", p.Model); err == nil {
		t.Error("csh: no error")
	}
	bash, err := Script("bash", p.Model)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\t'') echo run rm ;;",             // subcommands
		"\t\t--map) echo 'enum:a b' ;;",    // an enum's values
		"\t\t--profile) echo 'profile' ;;", // profile names
		"\t\t--rw) echo 'file' ;;",         // a PATH
		"\t'rm')\n\t\tcase $2 in\n\t\t*) echo 'sandbox' ;;",
		"\t'run')\n\t\tcase $2 in\n\t\t0) echo 'command' ;;\n\t\t*) echo 'file' ;;",
		"_sandbox_walk 1 ",
	} {
		if !strings.Contains(bash, want) {
			t.Errorf("bash script lacks %q", want)
		}
	}
	zsh, err := Script("zsh", p.Model)
	if err != nil || strings.Count(zsh, "_sandbox_walk() {") != 1 || !strings.Contains(zsh, "'--map:Map'") {
		t.Errorf("zsh script: %v", err)
	}
}
