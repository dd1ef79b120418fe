package layers

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"sandbox/quote"
	"sandbox/textdiff"
)

// maxPatchFile is the largest file Patch shows: a review is read by a person.
const maxPatchFile = 4 << 20

// Patch writes what the change does to a text file as a unified diff (the
// old side the host's file, the new side the upper's; "a/" and "b/" before
// the absolute path, so `cd / && patch -p1` applies it). A change that is not
// a text file's content (a directory, a symlink, a mode) is its Line. A file
// that is not plain text (NUL, control or bidi characters, invalid UTF-8: its
// content could rewrite the terminal the review is read on) or is larger
// than 4 MiB is named, not shown.
func (c *Change) Patch(w io.Writer) error {
	oldName, newName := "a"+quote.Name(c.Path), "b"+quote.Name(c.Path)
	var oldText, newText string
	var why string
	if c.Kind != 'A' {
		if !c.host.IsRegular() {
			_, err := fmt.Fprintln(w, c.Line())
			return err
		}
		old := c.lower
		if old == "" {
			old = c.Path
		}
		oldText, why = readText(old)
	} else {
		oldName = "/dev/null"
	}
	if c.Kind != 'D' {
		if !c.Mode.IsRegular() {
			_, err := fmt.Fprintln(w, c.Line())
			return err
		}
		if why == "" {
			newText, why = readText(c.upper)
		}
	} else {
		newName = "/dev/null"
	}
	if why != "" {
		_, err := fmt.Fprintf(w, "%s: not shown: %s\n", c.Line(), why)
		return err
	}
	if oldText == newText {
		var err error
		if c.Kind == 'M' { // same content: what changed is the mode
			_, err = fmt.Fprintf(w, "%s: mode %s -> %s\n", c.Line(), lsMode(c.host), lsMode(c.Mode))
		} else {
			_, err = fmt.Fprintf(w, "%s: empty file\n", c.Line())
		}
		return err
	}
	return textdiff.Unified(w, oldName, newName, oldText, newText)
}

// readText reads a regular file without following a symlink, or says why it
// is not shown.
func readText(path string) (string, string) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", "cannot read it: " + err.Error()
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPatchFile+1))
	switch {
	case err != nil:
		return "", "cannot read it: " + err.Error()
	case len(b) > maxPatchFile:
		return "", "larger than 4 MiB"
	case !plainText(b):
		return "", "not plain text"
	}
	return string(b), ""
}

// plainText accepts UTF-8 whose every character prints as itself, plus tab,
// newline and carriage return.
func plainText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r != '\t' && r != '\n' && r != '\r' && !unicode.IsGraphic(r) {
			return false
		}
	}
	return true
}
