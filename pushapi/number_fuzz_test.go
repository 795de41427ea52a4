package pushapi

import (
	"encoding/json"
	"testing"
)

// FuzzIsJSONNumber checks isJSONNumber against encoding/json: a text is a
// JSON number when json.Valid accepts it as a whole document that is a
// number token, with no surrounding white space (json.Valid allows it) and
// no leading '+' (JSON has none; json.Valid refuses it too). The second
// oracle is json.Unmarshal into a json.Number, under the same conditions.
//
//	go test -run '^$' -fuzz '^FuzzIsJSONNumber$' -fuzztime 60s ./pushapi/
func FuzzIsJSONNumber(f *testing.F) {
	for _, s := range []string{
		"", "0", "-0", "1", "-1", "01", "-01", "00", "0.", ".0", "0.0", "-0.0", "1.5", "1.", "1.e1",
		"1e", "1e+", "1e-", "1e1", "1E1", "1e+1", "1e-1", "1E-01", "0e0", "-0e-0", "1.5e300", "1e400",
		"+1", "+0", "-", "--1", "-+1", "+-1", " 1", "1 ", "\t1", "1\n", "1 2", "1,2", "1_000",
		"NaN", "Inf", "-Inf", "Infinity", "0x10", "0x1p3", "0b1", "0o7", "1f", "1d", "\"1\"", "[1]",
		"true", "null", "１", "1\x00", "\x001", "99999999999999999999999999999", "-9223372036854775809",
		"0.000000000000000000000000000000001", "123456789012345678901234567890e-400",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := isJSONNumber(s)

		// Oracle 1: json.Valid on the text, restricted to a bare number
		// token (a valid document starting with '-' or a digit is a
		// number; white space around it is the only other thing it may
		// hold).
		bare := s != "" && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) &&
			s[len(s)-1] >= '0' && s[len(s)-1] <= '9'
		want := bare && json.Valid([]byte(s))
		if got != want {
			t.Fatalf("isJSONNumber(%q) = %v, json.Valid says %v", s, got, want)
		}

		// Oracle 2: json.Unmarshal into json.Number (which would also take
		// a quoted number, hence bare).
		var n json.Number
		err := json.Unmarshal([]byte(s), &n)
		want2 := bare && err == nil
		if got != want2 {
			t.Fatalf("isJSONNumber(%q) = %v, json.Unmarshal into json.Number: err %v", s, got, err)
		}
		if got && string(n) != s {
			t.Fatalf("json.Number of %q is %q", s, n)
		}
		// A number isJSONNumber accepts must be writable by json.Marshal
		// (what the client does with it next).
		if got {
			if _, err := json.Marshal(json.Number(s)); err != nil {
				t.Fatalf("isJSONNumber(%q) but json.Marshal refuses it: %v", s, err)
			}
		}
	})
}
