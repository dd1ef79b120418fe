package profile

import (
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// tomlKind names a decoded TOML value's type for messages.
func tomlKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}

// tomlKeyLines maps every key path of a TOML document (parts joined by "\x00") to
// the line it is first written on. The document has been decoded already, so
// it parses.
func tomlKeyLines(data []byte) map[string]int {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			it := e.Key()
			table = tomlKeyParts(&p, it, nil, lines)
		case unstable.KeyValue:
			tomlWalkKeyValue(&p, e, table, lines)
		}
	}
	return lines
}

// tomlKeyParts records each prefix of a (dotted) key after base and returns the
// whole path.
func tomlKeyParts(p *unstable.Parser, it unstable.Iterator, base []string, lines map[string]int) []string {
	path := slices.Clone(base)
	for it.Next() {
		k := it.Node()
		path = append(path, string(k.Data))
		id := strings.Join(path, "\x00")
		if _, ok := lines[id]; !ok {
			lines[id] = p.Shape(k.Raw).Start.Line
		}
	}
	return path
}

func tomlWalkKeyValue(p *unstable.Parser, kv *unstable.Node, base []string, lines map[string]int) {
	path := tomlKeyParts(p, kv.Key(), base, lines)
	if v := kv.Value(); v.Kind == unstable.InlineTable {
		it := v.Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				tomlWalkKeyValue(p, n, path, lines)
			}
		}
	}
}
