package pushapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeRequest parses a /push.json body strictly, for operators' files: an
// unknown field (a typo such as "is_to_al") or a value of the wrong type is a
// *ValidationError naming the field. It does not run Validate.
func DecodeRequest(data []byte) (*Request, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Request
	if err := dec.Decode(&r); err != nil {
		return nil, decodeProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ValidationError{Problems: []FieldError{{Path: "", Rule: "unexpected data after the JSON object", Code: CodeParam}}}
	}
	return &r, nil
}

func decodeProblem(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	fe := FieldError{Code: CodeParam}
	switch {
	case errors.As(err, &typeErr):
		fe.Path = typeErr.Field
		fe.Rule = fmt.Sprintf("must be %s, got JSON %s", jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		fe.Rule = fmt.Sprintf("invalid JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF):
		fe.Rule, fe.Code = "empty body", CodeNoPostData
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		fe.Rule = "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	default:
		fe.Rule = err.Error()
	}
	return &ValidationError{Problems: []FieldError{fe}}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	}
	return "a number"
}
