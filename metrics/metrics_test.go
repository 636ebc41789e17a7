package metrics

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// fieldName is the Go field name a metric's name calls for.
func fieldName(metric string) string {
	name := strings.TrimSuffix(strings.TrimPrefix(metric, "mimc_bridge_"), "_total")
	var b strings.Builder
	for w := range strings.SplitSeq(name, "_") {
		if w == "mimc" {
			b.WriteString("MIMC")
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func TestEveryFieldIsNamedAfterItsMetric(t *testing.T) {
	m := New()
	v := reflect.ValueOf(m).Elem()
	collectors := 0
	for i := range v.NumField() {
		f := v.Type().Field(i)
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok || f.Name == "Registry" {
			continue
		}
		collectors++
		descs := make(chan *prometheus.Desc, 1)
		c.Describe(descs)
		match := fqName.FindStringSubmatch((<-descs).String())
		if match == nil {
			t.Fatalf("field %s: no metric name in its description", f.Name)
		}
		if want := fieldName(match[1]); f.Name != want {
			t.Errorf("field %s holds %s: name it %s", f.Name, match[1], want)
		}
	}
	if collectors < 20 {
		t.Errorf("found %d collector fields, want every metric (20)", collectors)
	}
}
