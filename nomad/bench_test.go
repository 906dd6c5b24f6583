package nomad

import (
	"context"
	"fmt"
	"testing"
)

func BenchmarkLoadTemplates(b *testing.B) {
	for b.Loop() {
		if _, err := LoadTemplates("../jobspecs", "../jobspecs/vars/dev.vars.hcl"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	set := loadShipped(b)
	tp := lookup(b, set, "event-normalizer")
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("client-%d", i%1000)
		i++
		if _, err := set.Render(tp, ClientVars{ClientID: id, Neo4jDatabase: id, KafkaBrokers: "127.0.0.1:9092"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubmit measures the client side of Submit against an httptest Nomad
// on loopback: "unchanged" is parse + plan, "changed" adds the register.
func BenchmarkSubmit(b *testing.B) {
	for _, diff := range []string{"None", "Added"} {
		name := map[string]string{"None": "unchanged", "Added": "changed"}[diff]
		b.Run(name, func(b *testing.B) {
			f := newFakeNomad(b)
			f.planDiff = diff
			c := f.client(b)
			r := renderShipped(b, "af-9")
			ctx := context.Background()
			for b.Loop() {
				if _, err := c.Submit(ctx, r, nil); err != nil {
					b.Fatal(err)
				}
				f.mu.Lock()
				f.calls = f.calls[:0] // keep the recorder from growing
				f.mu.Unlock()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
		})
	}
}
