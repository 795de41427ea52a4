package campaign

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// checkTemplateNames checks, at a campaign's creation, every field chain
// of its templates that starts from the template's data (.Vars.product,
// $.Campaign.Name, .FireTime.Day), executed or not: rendering the first
// fire only executes what that fire reaches, and a misspelt var behind
// {{if eq .FireTime.Day 1}} would fail every fire on the 1st. Chains under
// a {{with}} or {{range}} (where the dot is another value), in {{define}}d
// templates, or reached through index or a variable other than $, are
// left to the fires. It returns one problem per field.
func checkTemplateNames(c Campaign, fireTime time.Time) []FieldProblem {
	loc, err := c.Schedule.Location()
	if err != nil {
		loc = time.UTC
	}
	vars, _ := templateVars(c.Vars).(map[string]any)
	if vars == nil {
		vars = map[string]any{}
	}
	data := reflect.ValueOf(TemplateData{FireTime: fireTime.In(loc), Vars: vars, Campaign: TemplateCampaign{ID: c.ID, Name: c.Name, App: c.App}})
	var out []FieldProblem
	req := cloneRequest(c.Push)
	for _, f := range templateFields(&req) {
		if !strings.Contains(*f.ptr, "{{") {
			continue
		}
		t, err := template.New(f.path).Funcs(templateFuncs).Funcs(template.FuncMap{stepFunc: func() string { return "" }}).Parse(*f.ptr)
		if err != nil {
			continue // rendering reports it
		}
		if miss := missingName(t.Root, data); miss != "" {
			out = append(out, FieldProblem{Path: f.path, Rule: miss})
		}
	}
	return out
}

// missingName walks a template's nodes and returns the rule the first chain
// from the data that names nothing breaks, "" if none.
func missingName(root *parse.ListNode, data reflect.Value) string {
	var miss string
	// A template may declare $ again ({{$ := .Vars}}): its $ is then no
	// longer the data.
	dollarDeclared := declaresDollar(root)
	var node func(n parse.Node, dotIsData bool)
	var pipe func(p *parse.PipeNode, dotIsData bool)
	arg := func(a parse.Node, dotIsData bool) {
		switch a := a.(type) {
		case *parse.FieldNode:
			if dotIsData && miss == "" {
				miss = chainMiss(data, a.Ident)
			}
		case *parse.VariableNode:
			if len(a.Ident) > 1 && a.Ident[0] == "$" && !dollarDeclared && miss == "" {
				miss = chainMiss(data, a.Ident[1:])
			}
		case *parse.PipeNode:
			pipe(a, dotIsData)
		case *parse.ChainNode:
			if p, ok := a.Node.(*parse.PipeNode); ok {
				pipe(p, dotIsData)
			}
		}
	}
	pipe = func(p *parse.PipeNode, dotIsData bool) {
		if p == nil {
			return
		}
		for _, cmd := range p.Cmds {
			for _, a := range cmd.Args {
				arg(a, dotIsData)
			}
		}
	}
	node = func(n parse.Node, dotIsData bool) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				node(c, dotIsData)
			}
		case *parse.ActionNode:
			pipe(n.Pipe, dotIsData)
		case *parse.TemplateNode:
			pipe(n.Pipe, dotIsData)
		case *parse.IfNode:
			pipe(n.Pipe, dotIsData)
			node(n.List, dotIsData)
			node(n.ElseList, dotIsData)
		case *parse.WithNode:
			pipe(n.Pipe, dotIsData)
			node(n.List, false)
			node(n.ElseList, dotIsData) // else: the dot is unchanged
		case *parse.RangeNode:
			pipe(n.Pipe, dotIsData)
			node(n.List, false)
			node(n.ElseList, dotIsData)
		}
	}
	node(root, true)
	return miss
}

// chainMiss follows idents from v as text/template would (map keys, struct
// fields, methods without arguments) and says what the first that names
// nothing is; "" when every one names something, or when the chain reaches
// a value whose fields only a fire can tell.
func chainMiss(v reflect.Value, idents []string) string {
	for i, id := range idents {
		for v.IsValid() && v.Kind() == reflect.Interface {
			if v.IsNil() {
				return ""
			}
			v = v.Elem()
		}
		if !v.IsValid() {
			return ""
		}
		chain := "." + strings.Join(idents[:i+1], ".")
		// As text/template: a method of the value or of its pointer
		// (time.Location's String), then the pointer's target.
		m := v.MethodByName(id)
		if !m.IsValid() && v.Kind() != reflect.Pointer && v.CanAddr() {
			m = v.Addr().MethodByName(id)
		}
		if !m.IsValid() && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return ""
			}
			v = v.Elem()
			m = v.MethodByName(id)
		}
		if m.IsValid() {
			if m.Type().NumIn() != 0 || m.Type().NumOut() == 0 {
				return "" // called with arguments: the fire tells
			}
			v = m.Call(nil)[0]
			continue
		}
		switch v.Kind() {
		case reflect.Map:
			e := v.MapIndex(reflect.ValueOf(id))
			if !e.IsValid() {
				keys := make([]string, 0, v.Len())
				for _, k := range v.MapKeys() {
					keys = append(keys, fmt.Sprint(k.Interface()))
				}
				return fmt.Sprintf("template names %s, which is not there (%s holds %s); every branch of a template is checked, not only the one the first fire takes",
					chain, "."+strings.Join(idents[:i], "."), listOrNothing(keys))
			}
			v = e
		case reflect.Struct:
			f, ok := v.Type().FieldByName(id)
			if !ok || !f.IsExported() {
				return fmt.Sprintf("template names %s, which is not there; every branch of a template is checked, not only the one the first fire takes", chain)
			}
			v = v.FieldByIndex(f.Index)
		default:
			return fmt.Sprintf("template names %s, which is not there (%s is a %s, without fields)", chain, "."+strings.Join(idents[:i], "."), v.Kind())
		}
	}
	return ""
}

// listOrNothing is keys sorted and joined, or "nothing".
func listOrNothing(keys []string) string {
	if len(keys) == 0 {
		return "nothing"
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// declaresDollar reports whether any action under n declares or assigns $.
func declaresDollar(n parse.Node) bool {
	found := false
	var pipe func(p *parse.PipeNode)
	var walk func(n parse.Node)
	pipe = func(p *parse.PipeNode) {
		if p == nil {
			return
		}
		for _, d := range p.Decl {
			if len(d.Ident) > 0 && d.Ident[0] == "$" {
				found = true
			}
		}
	}
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			pipe(n.Pipe)
		case *parse.IfNode:
			pipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			pipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			pipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(n)
	return found
}
