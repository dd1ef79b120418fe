package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// checkShape walks a profile's JSON tokens and refuses, naming the field
// and its line and column, what encoding/json would accept or report
// poorly: unknown or duplicate keys (it matches keys without regard to
// case and keeps the last duplicate), wrong types, negative or fractional
// numbers, and syntax errors.
func checkShape(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := &walker{dec: dec, data: data}
	if err := w.value(profileShape(), ""); err != nil {
		return err
	}
	start := w.next()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return w.syntax(err)
		}
		return fmt.Errorf("%s: unexpected data after the profile", w.where(start))
	}
	return nil
}

type kind uint8

const (
	kString kind = iota + 1
	kUint
	kArray
	kObject
)

// shape is the expected form of a JSON value.
type shape struct {
	kind   kind
	elem   *shape            // kArray
	fields map[string]*shape // kObject
}

func profileShape() *shape {
	str, num := &shape{kind: kString}, &shape{kind: kUint}
	strs := &shape{kind: kArray, elem: str}
	obj := func(f map[string]*shape) *shape { return &shape{kind: kObject, fields: f} }
	arr := func(e *shape) *shape { return &shape{kind: kArray, elem: e} }
	flt := obj(map[string]*shape{"caps": strs, "arches": strs, "minKernel": str})
	arg := obj(map[string]*shape{"index": num, "value": num, "valueTwo": num, "op": str})
	call := obj(map[string]*shape{
		"names": strs, "name": str, "action": str, "errnoRet": num, "errno": str,
		"args": arr(arg), "comment": str, "includes": flt, "excludes": flt,
	})
	return obj(map[string]*shape{
		"defaultAction": str, "defaultErrnoRet": num, "defaultErrno": str,
		"architectures": strs, "flags": strs, "listenerPath": str, "listenerMetadata": str,
		"archMap":  arr(obj(map[string]*shape{"architecture": str, "subArchitectures": strs})),
		"syscalls": arr(call),
	})
}

type walker struct {
	dec      *json.Decoder
	data     []byte
	tokStart int64 // offset of the last token read
}

// next returns the offset where the next token starts.
func (w *walker) next() int64 {
	off := w.dec.InputOffset()
	for off < int64(len(w.data)) && bytes.IndexByte([]byte(" \t\r\n:,"), w.data[off]) >= 0 {
		off++
	}
	return off
}

// token reads the next token and records where it starts.
func (w *walker) token() (json.Token, error) {
	w.tokStart = w.next()
	tok, err := w.dec.Token()
	if err != nil {
		return nil, w.syntax(err)
	}
	return tok, nil
}

func (w *walker) value(sh *shape, path string) error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	if tok == nil { // null: as if absent
		return nil
	}
	switch sh.kind {
	case kString:
		if _, ok := tok.(string); ok {
			return nil
		}
	case kUint:
		if n, ok := tok.(json.Number); ok {
			if _, err := strconv.ParseUint(n.String(), 10, 64); err != nil {
				return fmt.Errorf("%s: %s is not an unsigned 64-bit integer (%s)", name(path), n, w.where(w.tokStart))
			}
			return nil
		}
	case kArray:
		if tok == json.Delim('[') {
			for i := 0; w.dec.More(); i++ {
				if err := w.value(sh.elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err := w.token()
			return err
		}
	case kObject:
		if tok == json.Delim('{') {
			return w.object(sh, path)
		}
	}
	want := map[kind]string{kString: "a string", kUint: "a number", kArray: "an array", kObject: "an object"}[sh.kind]
	return fmt.Errorf("%s: expected %s, found %s (%s)", name(path), want, describe(tok), w.where(w.tokStart))
}

// object checks the members of an object whose '{' was just read.
func (w *walker) object(sh *shape, path string) error {
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // The decoder only returns strings here.
		child, ok := sh.fields[key]
		if !ok {
			return fmt.Errorf("%s: unknown field %q (%s)", name(path), key, w.where(w.tokStart))
		}
		if seen[key] {
			return fmt.Errorf("%s: duplicate field %q (%s)", name(path), key, w.where(w.tokStart))
		}
		seen[key] = true
		sub := key
		if path != "" {
			sub = path + "." + key
		}
		if err := w.value(child, sub); err != nil {
			return err
		}
	}
	_, err := w.token()
	return err
}

// name is the path for messages; the top level is "profile".
func name(path string) string {
	if path == "" {
		return "profile"
	}
	return path
}

func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// syntax turns a decoder error into "line L, column C: message".
func (w *walker) syntax(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%s: %w", w.where(se.Offset), err)
	case errors.Is(err, io.EOF) && len(bytes.TrimSpace(w.data)) == 0:
		return errors.New("profile is empty")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: unexpected end of JSON", w.where(int64(len(w.data))))
	}
	return fmt.Errorf("%s: %w", w.where(w.dec.InputOffset()), err)
}

// where formats a byte offset as "line L, column C" (1-based, in bytes).
func (w *walker) where(off int64) string {
	off = min(max(off, 0), int64(len(w.data)))
	before := w.data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return "line " + strconv.Itoa(line) + ", column " + strconv.Itoa(col)
}
