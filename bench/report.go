package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Result is one benchmark's metric over its runs.
type Result struct {
	Name   string    // benchmark name without the -GOMAXPROCS suffix
	Unit   string    // ns/op, sends/s, ...
	Values []float64 // one per run, in output order
}

// Median is the median of the runs (the mean of the middle two for an even
// count).
func (r Result) Median() float64 {
	v := slices.Clone(r.Values)
	slices.Sort(v)
	n := len(v)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Min and Max bound the runs.
func (r Result) Min() float64 { return slices.Min(r.Values) }

// Max is the largest run.
func (r Result) Max() float64 { return slices.Max(r.Values) }

// ErrBenchFailed is returned by Parse when the output shows a failure.
var ErrBenchFailed = errors.New("the benchmark output reports a failure")

var procsSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads `go test -bench` output and returns every metric of every
// benchmark, in order of first appearance. It returns the results parsed so
// far with ErrBenchFailed when the output holds a FAIL or a panic.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	index := map[[2]string]int{}
	failed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "panic:") {
			failed = true
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a log line that starts with a benchmark name
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			key := [2]string{name, f[i+1]}
			j, ok := index[key]
			if !ok {
				j = len(out)
				index[key] = j
				out = append(out, Result{Name: name, Unit: f[i+1]})
			}
			out[j].Values = append(out[j].Values, v)
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read benchmark output: %w", err)
	}
	if failed {
		return out, ErrBenchFailed
	}
	return out, nil
}

// Summarize writes one line per benchmark metric: runs, median, min and max.
func Summarize(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tmetric\truns\tmedian\tmin\tmax")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.Name, r.Unit, len(r.Values), format(r.Median()), format(r.Min()), format(r.Max()))
	}
	return tw.Flush()
}

// format prints v with about four significant digits.
func format(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000 || v <= -1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}
