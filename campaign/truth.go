package campaign

import (
	"fmt"
	"math/big"
	"sync"
	"text/template"
	"text/template/parse"
)

// truthFunc names the function through which a template's {{if}} and
// {{with}}, and the arguments of its and, or and not, see their value: a
// name no campaign has reason to use. text/template finds every struct
// non-empty, and a var's number is a Number (a struct: it keeps its text),
// so {{if .Vars.discount}} held with discount: 0; through truthFunc a
// number 0 is empty, as text/template says of numbers.
const truthFunc = "_tagcast_truth"

// truthValue is truthFunc: a Number that is zero becomes a zeroNumber
// (empty to text/template, and still the number as written), any other
// value passes unchanged ({{with}}'s dot, and what and/or return, print and
// format as the var was written).
func truthValue(v any) any {
	if n, ok := v.(Number); ok && n.isZero() {
		return newZeroNumber(n)
	}
	return v
}

// zeroNumber is a var's number 0 as a test sees it: a slice of length 0,
// which text/template finds empty, whose one element beyond its length is
// the Number, so that it prints, formats and compares as the number
// written (0.00 stays 0.00 through {{or .Vars.sale .Vars.price}}).
type zeroNumber []Number

func newZeroNumber(n Number) zeroNumber {
	z := make(zeroNumber, 0, 1)
	return append(z, n)[:0]
}

// number is the Number z stands for.
func (z zeroNumber) number() Number { return z[:1][0] }

// String is the number as written.
func (z zeroNumber) String() string { return z.number().text }

// Format implements fmt.Formatter as Number does.
func (z zeroNumber) Format(f fmt.State, verb rune) { z.number().Format(f, verb) }

// isZero reports whether n is a number 0 (0, -0, 0.00, 0e5).
func (n Number) isZero() bool {
	r, ok := new(big.Rat).SetString(n.text)
	return ok && r.Sign() == 0
}

// truthProbe is the pipeline of a parsed {{truthFunc 0}}: copies of it
// wrap a pipeline (or an argument) in a call of truthFunc, the 0 replaced.
var truthProbe = sync.OnceValues(func() (*parse.PipeNode, error) {
	probe, err := template.New("truth").Funcs(template.FuncMap{truthFunc: truthValue}).Parse("{{" + truthFunc + " 0}}")
	if err != nil {
		return nil, err
	}
	return probe.Root.Nodes[0].(*parse.ActionNode).Pipe, nil
})

// wrapTruth returns the pipeline truthFunc (arg).
func wrapTruth(probe *parse.PipeNode, arg parse.Node) *parse.PipeNode {
	w := probe.CopyPipe()
	w.Cmds[0].Args[1] = arg
	return w
}

// numbersTruth rewrites t's templates so that their tests see a var's
// number 0 as empty: the pipeline of each {{if}} and {{with}} (its
// variables kept outside: {{with $x := .Vars.n}} still binds the Number),
// and each argument of and, or and not (the value piped into one too:
// {{.Vars.n | not}}), go through truthFunc.
func numbersTruth(t *template.Template) error {
	probe, err := truthProbe()
	if err != nil {
		return err
	}
	var pipe func(p *parse.PipeNode)
	var node func(n parse.Node)
	pipe = func(p *parse.PipeNode) {
		if p == nil {
			return
		}
		cmds := make([]*parse.CommandNode, 0, len(p.Cmds))
		for i, cmd := range p.Cmds {
			if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok && i > 0 && (id.Ident == "and" || id.Ident == "or" || id.Ident == "not") {
				// The value piped in ({{.Vars.n | not}}) goes through
				// truthFunc first: a step of its own before the command.
				step := probe.Cmds[0].Copy().(*parse.CommandNode)
				step.Args = step.Args[:1]
				cmds = append(cmds, step)
			}
			cmds = append(cmds, cmd)
			for _, a := range cmd.Args {
				switch a := a.(type) {
				case *parse.PipeNode:
					pipe(a)
				case *parse.ChainNode:
					if inner, ok := a.Node.(*parse.PipeNode); ok {
						pipe(inner)
					}
				}
			}
			if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok && (id.Ident == "and" || id.Ident == "or" || id.Ident == "not") {
				for i := 1; i < len(cmd.Args); i++ {
					cmd.Args[i] = wrapTruth(probe, cmd.Args[i])
				}
			}
		}
		p.Cmds = cmds
	}
	test := func(b *parse.BranchNode) {
		pipe(b.Pipe)
		inner := b.Pipe.CopyPipe()
		inner.Decl, inner.IsAssign = nil, false
		w := wrapTruth(probe, inner)
		w.Decl, w.IsAssign = b.Pipe.Decl, b.Pipe.IsAssign
		b.Pipe = w
		node(b.List)
		node(b.ElseList)
	}
	node = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				node(c)
			}
		case *parse.ActionNode:
			pipe(n.Pipe)
		case *parse.TemplateNode:
			pipe(n.Pipe)
		case *parse.IfNode:
			test(&n.BranchNode)
		case *parse.WithNode:
			test(&n.BranchNode)
		case *parse.RangeNode:
			pipe(n.Pipe)
			node(n.List)
			node(n.ElseList)
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Root != nil {
			node(tt.Root)
		}
	}
	return nil
}
