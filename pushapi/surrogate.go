package pushapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// LoneSurrogateRule is the rule a lone surrogate escape breaks, as problems
// say it (here, and in the admin API, campaign files and push send, which
// check their JSON with LoneSurrogate too).
const LoneSurrogateRule = `holds a \u escape of half a UTF-16 surrogate pair, which is no character (encoding/json would read it as U+FFFD); ` +
	`write the character, or both halves of its pair`

// LoneSurrogate finds the first string of the JSON document data, key or
// value, that holds a \u escape of a UTF-16 surrogate that is not part of a
// pair ("\ud83c" alone: what a JavaScript string cut in the middle of an
// emoji is written as). encoding/json turns such an escape into U+FFFD in
// silence, so a tag "vip-\ud83c" would reach the service as "vip-\uFFFD".
// It returns the string's path ("push.audience.tag[0]"; for a key, the
// key's own path); nothing for a document without one, or malformed (the
// decoder refuses that).
func LoneSurrogate(data []byte) (string, bool) {
	if !bytes.Contains(data, []byte(`\u`)) {
		return "", false // the common case costs one scan
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object    bool
		key       string // an object's current key
		index     int    // an array's elements so far
		expectKey bool   // an object's next token is a key
	}
	var stack []*frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.object {
				b.WriteString("." + f.key)
			} else {
				b.WriteString("[" + strconv.Itoa(f.index-1) + "]")
			}
		}
		return strings.TrimPrefix(b.String(), ".")
	}
	// valueDone: the value at the top's current place has ended.
	valueDone := func() {
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expectKey = true
		}
	}
	for {
		from := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		raw := data[from:dec.InputOffset()]
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			valueDone()
			continue
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expectKey {
			top.key, _ = tok.(string)
			top.expectKey = false
			if loneIn(raw) {
				return path(), true
			}
			continue
		}
		if top != nil && !top.object {
			top.index++
		}
		if _, ok := tok.(string); ok && loneIn(raw) {
			return path(), true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		default:
			valueDone()
		}
	}
}

// loneIn reports whether the JSON text raw holds, inside a string, a \u
// escape of a surrogate that is not half of a high-low pair.
func loneIn(raw []byte) bool {
	in := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !in {
			in = c == '"'
			continue
		}
		switch c {
		case '"':
			in = false
		case '\\':
			if i+1 >= len(raw) {
				return false
			}
			if raw[i+1] != 'u' {
				i++ // the escaped character
				continue
			}
			r, ok := hex4(raw, i+2)
			if !ok {
				return false // malformed: the decoder says so
			}
			i += 5
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return true // a low half first
			case r >= 0xD800 && r <= 0xDBFF:
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if lo, ok := hex4(raw, i+3); ok && lo >= 0xDC00 && lo <= 0xDFFF {
						i += 6
						continue
					}
				}
				return true
			}
		}
	}
	return false
}

// hex4 reads the four hex digits at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw[at:at+4]), 16, 32)
	return rune(v), err == nil
}
