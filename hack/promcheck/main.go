// promcheck validates a Prometheus text exposition page (format 0.0.4), for
// switchyard's tests and CI. Usage:
//
//	promcheck < page.txt
//	promcheck http://127.0.0.1:9090/metrics
//
// It fails (exit 1) on anything Prometheus itself would reject or mis-read:
// parse errors (bad syntax, TYPE/HELP after samples or repeated, samples that
// do not match their TYPE, bad escapes or values), invalid metric or label
// names (classic, not UTF-8, validation), duplicate series, histograms whose
// buckets are not cumulative or lack +Inf/_count. promlint findings (the
// rules of `promtool check metrics`) are printed as warnings only: upstream
// GAIE names we must keep (counters without _total, *_sizes histograms...)
// trip them. Exit 2 means the page could not be read.
package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func read(args []string) ([]byte, error) {
	if len(args) == 0 || args[0] == "-" {
		return io.ReadAll(os.Stdin)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", args[0], resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/plain") {
		fmt.Fprintf(os.Stderr, "warning: Content-Type %q (want text/plain; version=0.0.4)\n", ct)
	}
	return io.ReadAll(resp.Body)
}

func labelSig(m *dto.Metric) string {
	var parts []string
	for _, lp := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func check(page []byte) (errs, warns []string) {
	if len(page) > 0 && page[len(page)-1] != '\n' {
		errs = append(errs, "page does not end with a newline")
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		return append(errs, "parse: "+err.Error()), nil
	}
	names := make([]string, 0, len(mfs))
	for n := range mfs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mf := mfs[n]
		if !metricNameRE.MatchString(n) {
			errs = append(errs, fmt.Sprintf("%s: invalid metric name", n))
		}
		seen := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !labelNameRE.MatchString(lp.GetName()) || strings.HasPrefix(lp.GetName(), "__") {
					errs = append(errs, fmt.Sprintf("%s: invalid label name %q", n, lp.GetName()))
				}
			}
			sig := labelSig(m)
			if seen[sig] {
				errs = append(errs, fmt.Sprintf("%s%s: duplicate series", n, sig))
			}
			seen[sig] = true
			if h := m.GetHistogram(); h != nil && mf.GetType() == dto.MetricType_HISTOGRAM {
				errs = append(errs, checkHistogram(n+sig, h)...)
			}
		}
	}
	problems, err := promlint.NewWithMetricFamilies(familyList(mfs, names)).Lint()
	if err != nil {
		errs = append(errs, "promlint: "+err.Error())
	}
	for _, p := range problems {
		warns = append(warns, fmt.Sprintf("%s: %s", p.Metric, p.Text))
	}
	return errs, warns
}

func checkHistogram(id string, h *dto.Histogram) (errs []string) {
	prevLE, prevCount := math.Inf(-1), uint64(0)
	hasInf := false
	for _, b := range h.GetBucket() {
		le := b.GetUpperBound()
		if !(le > prevLE) {
			errs = append(errs, fmt.Sprintf("%s: bucket le=%g not increasing (duplicate or out of order)", id, le))
		}
		if b.GetCumulativeCount() < prevCount {
			errs = append(errs, fmt.Sprintf("%s: bucket le=%g count %d < previous %d (not cumulative)", id, le, b.GetCumulativeCount(), prevCount))
		}
		if math.IsInf(le, +1) {
			hasInf = true
			if b.GetCumulativeCount() != h.GetSampleCount() {
				errs = append(errs, fmt.Sprintf("%s: +Inf bucket %d != _count %d", id, b.GetCumulativeCount(), h.GetSampleCount()))
			}
		}
		prevLE, prevCount = le, b.GetCumulativeCount()
	}
	if !hasInf {
		errs = append(errs, id+": histogram has no le=\"+Inf\" bucket")
	}
	return errs
}

func familyList(mfs map[string]*dto.MetricFamily, names []string) []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(names))
	for _, n := range names {
		out = append(out, mfs[n])
	}
	return out
}

func main() {
	page, err := read(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "promcheck:", err)
		os.Exit(2)
	}
	errs, warns := check(page)
	for _, w := range warns {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, "error:", e)
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "promcheck: ok")
}
