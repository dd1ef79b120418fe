package userns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// The Config crosses from the parent to init in a binary form of its own, not
// as JSON, for two reasons measured on this project's machines (issue 15):
// encoding/json turns bytes that are not UTF-8 into U+FFFD, so a Latin-1 word
// of the command, an environment value or a path reached init changed; and
// its first use costs each side ~2 ms (page faults of its reflection caches)
// on the start-up path. Parent and init are one binary (/proc/self/exe), so
// the form is positional: every field JSON would carry (exported, not
// `json:"-"`), in declaration order, with no names and no versions.
//
//	bool        one byte, 0 or 1
//	int*        zig-zag varint;  uint*: varint
//	string      varint length, then the bytes as they are
//	slice, map  varint 0 for nil, else length+1, then the elements (a map's as key, value)
//	pointer     one byte, 0 for nil, else 1 and the value
//	array       the elements;  struct: the fields

// marshalWire encodes v (a pointer to a struct of the kinds above).
func marshalWire(v any) []byte {
	var w wireWriter
	w.value(reflect.ValueOf(v).Elem())
	return w.b
}

// unmarshalWire decodes what marshalWire wrote into v, a pointer to a zero
// value of the same type.
func unmarshalWire(b []byte, v any) error {
	r := wireReader{b: b}
	if err := r.value(reflect.ValueOf(v).Elem()); err != nil {
		return fmt.Errorf("decode message: %w", err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("decode message: %d bytes after the end", len(r.b))
	}
	return nil
}

// wireField says whether a struct field crosses: what JSON would carry.
func wireField(f reflect.StructField) bool {
	return f.IsExported() && !strings.HasPrefix(f.Tag.Get("json"), "-")
}

type wireWriter struct{ b []byte }

func (w *wireWriter) length(v reflect.Value) {
	if v.IsNil() {
		w.b = binary.AppendUvarint(w.b, 0)
		return
	}
	w.b = binary.AppendUvarint(w.b, uint64(v.Len())+1)
}

func (w *wireWriter) value(v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			w.b = append(w.b, 1)
		} else {
			w.b = append(w.b, 0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.b = binary.AppendVarint(w.b, v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		w.b = binary.AppendUvarint(w.b, v.Uint())
	case reflect.String:
		w.b = binary.AppendUvarint(w.b, uint64(v.Len()))
		w.b = append(w.b, v.String()...)
	case reflect.Slice:
		w.length(v)
		if v.Type().Elem().Kind() == reflect.Uint8 {
			w.b = append(w.b, v.Bytes()...)
			return
		}
		for i := range v.Len() {
			w.value(v.Index(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			w.value(v.Index(i))
		}
	case reflect.Map:
		w.length(v)
		for it := v.MapRange(); it.Next(); {
			w.value(it.Key())
			w.value(it.Value())
		}
	case reflect.Pointer:
		if v.IsNil() {
			w.b = append(w.b, 0)
			return
		}
		w.b = append(w.b, 1)
		w.value(v.Elem())
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if wireField(t.Field(i)) {
				w.value(v.Field(i))
			}
		}
	default:
		// An interface, a func, a channel: nothing Config holds. A new
		// field of such a kind fails TestWireRoundTrip.
		panic(fmt.Sprintf("wire: cannot encode a %s", v.Type()))
	}
}

type wireReader struct{ b []byte }

var errShort = errors.New("truncated")

func (r *wireReader) uvarint() (uint64, error) {
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		return 0, errShort
	}
	r.b = r.b[k:]
	return n, nil
}

func (r *wireReader) byte1() (byte, error) {
	if len(r.b) == 0 {
		return 0, errShort
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

// length reads a slice's or map's length; nil says it was nil. No length
// exceeds the bytes left (each element takes at least one byte), so a bad
// one cannot make us allocate more than the message holds.
func (r *wireReader) length() (n int, isNil bool, err error) {
	u, err := r.uvarint()
	if err != nil {
		return 0, false, err
	}
	if u == 0 {
		return 0, true, nil
	}
	if u-1 > uint64(len(r.b)) {
		return 0, false, errShort
	}
	return int(u - 1), false, nil
}

func (r *wireReader) value(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Bool:
		c, err := r.byte1()
		if err != nil || c > 1 {
			return errors.Join(err, errors.New("bad bool"))
		}
		v.SetBool(c == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, k := binary.Varint(r.b)
		if k <= 0 || v.OverflowInt(n) {
			return fmt.Errorf("bad %s", v.Type())
		}
		r.b = r.b[k:]
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, err := r.uvarint()
		if err != nil || v.OverflowUint(n) {
			return fmt.Errorf("bad %s", v.Type())
		}
		v.SetUint(n)
	case reflect.String:
		n, err := r.uvarint()
		if err != nil || n > uint64(len(r.b)) {
			return errShort
		}
		v.SetString(string(r.b[:n]))
		r.b = r.b[n:]
	case reflect.Slice:
		n, isNil, err := r.length()
		if err != nil || isNil {
			return err
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes(append([]byte{}, r.b[:n]...))
			r.b = r.b[n:]
			return nil
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			if err := r.value(s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			if err := r.value(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		n, isNil, err := r.length()
		if err != nil || isNil {
			return err
		}
		m := reflect.MakeMapWithSize(v.Type(), n)
		for range n {
			k := reflect.New(v.Type().Key()).Elem()
			e := reflect.New(v.Type().Elem()).Elem()
			if err := r.value(k); err != nil {
				return err
			}
			if err := r.value(e); err != nil {
				return err
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		c, err := r.byte1()
		if err != nil || c > 1 {
			return errors.Join(err, errors.New("bad pointer"))
		}
		if c == 1 {
			p := reflect.New(v.Type().Elem())
			if err := r.value(p.Elem()); err != nil {
				return err
			}
			v.Set(p)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if wireField(t.Field(i)) {
				if err := r.value(v.Field(i)); err != nil {
					return err
				}
			}
		}
	default:
		return fmt.Errorf("cannot decode a %s", v.Type())
	}
	return nil
}
