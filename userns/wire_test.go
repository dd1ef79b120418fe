package userns

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

// fill sets every field that crosses (wireField) of v to a value of its own,
// different from the zero value, recursively: slices and maps get two
// elements, strings bytes that are not UTF-8.
func fill(t *testing.T, v reflect.Value, seed *int) {
	*seed++
	n := *seed
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-int64(n % 100))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n%200 + 1))
	case reflect.String:
		v.SetString(string([]byte{'s', byte(n), 0xe9, 0xff, 0}))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), seed)
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			fill(t, v.Index(i), seed)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k := reflect.New(v.Type().Key()).Elem()
			e := reflect.New(v.Type().Elem()).Elem()
			fill(t, k, seed)
			fill(t, e, seed)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), seed)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if wireField(v.Type().Field(i)) {
				fill(t, v.Field(i), seed)
			}
		}
	default:
		t.Fatalf("Config holds a %s, which wire.go cannot carry", v.Type())
	}
}

// TestWireRoundTrip: every field of a Config reaches init as it was sent,
// byte for byte; nil and empty stay apart.
func TestWireRoundTrip(t *testing.T) {
	var want Config
	seed := 0
	fill(t, reflect.ValueOf(&want).Elem(), &seed)
	want.Env = append(want.Env, "") // an empty string among others
	want.Groups = []uint32{}        // empty, not nil
	var got Config
	if err := unmarshalWire(marshalWire(&want), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip changed the config:\nsent %+v\ngot  %+v", want, got)
	}
	var zero Config
	if err := unmarshalWire(marshalWire(&zero), &got); err != nil || !reflect.DeepEqual(zero, Config{}) {
		t.Fatalf("zero config: %v", err)
	}

	// In a frame, as init reads it, after another.
	var pipe bytes.Buffer
	pipe.Write(frame(Msg{Type: MsgConfig, Config: &want}))
	pipe.Write(frame(Msg{Type: MsgGo, Cgroup: "/sys/fs/cgroup/\xff"}))
	in := newFrames(&pipe)
	if m, err := in.next(); err != nil || m.Type != MsgConfig || !reflect.DeepEqual(*m.Config, want) {
		t.Fatalf("config frame: %v", err)
	}
	if m, err := in.next(); err != nil || m.Type != MsgGo || m.Cgroup != "/sys/fs/cgroup/\xff" {
		t.Fatalf("go frame: %+v, %v", m, err)
	}
	if _, err := in.next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
	cut := frame(Msg{Type: MsgExit, Status: 3})
	if _, err := newFrames(bytes.NewReader(cut[:len(cut)-1])).next(); err == nil || err == io.EOF {
		t.Fatalf("a cut frame: %v, want an error", err)
	}

	// Every message of the protocol can cross.
	var all Msg
	seed = 0
	fill(t, reflect.ValueOf(&all).Elem(), &seed)
	var back Msg
	if err := unmarshalWire(marshalWire(&all), &back); err != nil || !reflect.DeepEqual(back, all) {
		t.Fatalf("a full message: %v", err)
	}

	// Every cut of the message is refused, never a panic.
	b := marshalWire(&want)
	for i := range len(b) {
		var c Config
		if unmarshalWire(b[:i], &c) == nil {
			t.Fatalf("a config cut at byte %d of %d decodes", i, len(b))
		}
	}
}

// FuzzWire: whatever bytes arrive, decoding ends with a config or an error.
func FuzzWire(f *testing.F) {
	var c Config
	seed := 0
	fill(&testing.T{}, reflect.ValueOf(&c).Elem(), &seed)
	f.Add(marshalWire(&c))
	f.Add(marshalWire(&Config{Argv: []string{"true"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Config
		if unmarshalWire(b, &c) != nil {
			return
		}
		var again Config
		if err := unmarshalWire(marshalWire(&c), &again); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("%x decodes, but not the same once encoded again: %v", b, err)
		}
	})
}
