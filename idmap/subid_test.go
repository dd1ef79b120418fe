package idmap

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	long := "bob:" + strings.Repeat("9", 100<<10) + ":1\n" // past bufio.Scanner's 64 KiB
	tests := []struct {
		name    string
		file    string
		user    string
		id      uint32
		want    []Range
		wantErr string // substring; "" means no error
	}{
		{name: "empty file", file: "", user: "alice", id: 1000},
		{name: "no entry", file: "bob:100000:65536\n", user: "alice", id: 1000},
		{
			name: "by name",
			file: "alice:100000:65536\n", user: "alice", id: 1000,
			want: []Range{{100000, 65536}},
		},
		{
			name: "by numeric uid",
			file: "1000:100000:65536\n", user: "alice", id: 1000,
			want: []Range{{100000, 65536}},
		},
		{
			name: "numeric uid of someone else",
			file: "1001:100000:65536\n", user: "alice", id: 1000,
		},
		{
			name: "name is not a prefix match",
			file: "alice2:100000:65536\nalic:1:2\n", user: "alice", id: 1000,
		},
		{
			name: "several ranges in file order, by name and uid",
			file: "alice:300000:10\nbob:1:1\n1000:100000:65536\nalice:200000:5\n", user: "alice", id: 1000,
			want: []Range{{300000, 10}, {100000, 65536}, {200000, 5}},
		},
		{
			name: "comments, blank lines and whitespace",
			file: "# subordinate IDs\n\n   \n\t# alice:1:1\n  alice : 100000 : 65536  \r\n\n", user: "alice", id: 1000,
			want: []Range{{100000, 65536}},
		},
		{
			name: "last line without newline",
			file: "alice:1:2\nalice:100000:65536", user: "alice", id: 1000,
			want: []Range{{1, 2}, {100000, 65536}},
		},
		{
			name: "zero-length range skipped",
			file: "alice:100000:0\nalice:200000:1\n", user: "alice", id: 1000,
			want: []Range{{200000, 1}},
		},
		{
			name: "last valid ID",
			file: "alice:4294967294:1\n", user: "alice", id: 1000,
			want: []Range{{4294967294, 1}},
		},
		{
			name: "bad lines of other users skipped",
			file: "bob\nbob:1\nbob:x:1\ncarol:1:-1\n1001:1:99999999999\n:1:1\n" + long + "alice:100000:65536\n",
			user: "alice", id: 1000,
			want: []Range{{100000, 65536}},
		},
		{name: "too few fields", file: "alice:1:1\nalice:100000\n", user: "alice", id: 1000, wantErr: "parse line 2: want OWNER:START:COUNT, got 2 fields"},
		{name: "name only", file: "alice\n", user: "alice", id: 1000, wantErr: "parse line 1: want OWNER:START:COUNT, got 1 fields"},
		{name: "too many fields", file: "1000:1:2:3\n", user: "alice", id: 1000, wantErr: "parse line 1: want OWNER:START:COUNT, got 4 fields"},
		{name: "non-numeric start", file: "\n#\nalice:abc:65536\n", user: "alice", id: 1000, wantErr: `parse line 3: parse start "abc": invalid syntax`},
		{name: "empty count", file: "alice:1:\n", user: "alice", id: 1000, wantErr: `parse line 1: parse count "": invalid syntax`},
		{name: "negative count", file: "alice:100000:-1\n", user: "alice", id: 1000, wantErr: `parse count "-1": invalid syntax`},
		{name: "start overflows uint32", file: "alice:4294967296:1\n", user: "alice", id: 1000, wantErr: `parse start "4294967296": value out of range`},
		{name: "count overflows uint32", file: "1000:1:99999999999\n", user: "alice", id: 1000, wantErr: `parse count "99999999999": value out of range`},
		{name: "range passes last ID", file: "alice:4294967000:1000\n", user: "alice", id: 1000, wantErr: "range 4294967000+1000 passes the last valid ID 4294967294"},
		{name: "range reaches (uid_t)-1", file: "alice:4294967295:1\n", user: "alice", id: 1000, wantErr: "passes the last valid ID"},
		{name: "trailing comment is not one", file: "alice:100000:65536 # dev\n", user: "alice", id: 1000, wantErr: `parse count "65536 # dev"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSubIDs(strings.NewReader(tt.file), tt.user, tt.id)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ranges = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLookupSubIDs(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "subuid")
	bad := filepath.Join(dir, "subuid.bad")
	if err := os.WriteFile(good, []byte("alice:100000:65536\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("alice:x:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	got, err := LookupSubIDs(good, "alice", 1000)
	if err != nil || !reflect.DeepEqual(got, []Range{{100000, 65536}}) {
		t.Errorf("good file: %v, %v", got, err)
	}
	got, err = LookupSubIDs(filepath.Join(dir, "missing"), "alice", 1000)
	if err != nil || got != nil {
		t.Errorf("missing file: %v, %v; want nil, nil", got, err)
	}
	_, err = LookupSubIDs(bad, "alice", 1000)
	if want := "read " + bad + ": parse line 1"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("bad file: err = %v, want %q", err, want)
	}
	_, err = LookupSubIDs(dir, "alice", 1000) // a directory: opens, fails to read
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory: err = %v, want a read error", err)
	}
}

func TestSubIDLine(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{name: "empty file", file: "", want: "alice:100000:65536"},
		{name: "first block taken", file: "bob:100000:65536\n", want: "alice:165536:65536"},
		{name: "last ID of first block taken", file: "bob:165535:1\n", want: "alice:165536:65536"},
		{name: "below the grid", file: "bob:0:100000\n", want: "alice:100000:65536"},
		{name: "gap on the grid", file: "bob:100000:65536\ncarol:231072:65536\n", want: "alice:165536:65536"},
		{name: "unaligned range", file: "bob:150000:100000\n", want: "alice:296608:65536"},
		{name: "malformed and zero-length lines ignored", file: "bob:x:1\ncarol:100000:0\n# d:100000:1\n", want: "alice:100000:65536"},
		{name: "unsorted and overlapping", file: "c:231072:10\nb:100000:65536\nd:165000:70000\n", want: "alice:296608:65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			taken, err := AllSubIDs(strings.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := SubIDLine("alice", taken); got != tt.want {
				t.Errorf("SubIDLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseSubIDs(f *testing.F) {
	for _, s := range []string{
		"",
		"alice:100000:65536\n",
		"# c\n\n1000:1:2\nalice:4294967294:1\n",
		"alice:4294967295:0\nalice:0:4294967295",
		"bob:x\nalice : 1 : 2 \r\n",
		"alice:1:2:3\n",
		"::\n",
	} {
		f.Add(s, "alice", uint32(1000))
	}
	f.Fuzz(func(t *testing.T, file, name string, id uint32) {
		rs, err := ParseSubIDs(strings.NewReader(file), name, id)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Length == 0 {
				t.Errorf("zero-length range %v", r)
			}
			if uint64(r.Start)+uint64(r.Length) > math.MaxUint32 {
				t.Errorf("range %v passes the last valid ID", r)
			}
		}
		m := Build(0, id, rs) // whatever parses must build a valid map
		checkMap(t, m, 0, id)
	})
}
