package kafkaio

import (
	"errors"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	hex16 := "0123456789abcdef"
	tests := []struct {
		in      string
		want    Key
		wantErr string // substring; "" = valid
	}{
		{in: "af-9::event::0b7e3c1a-1111-4c4c-9a9a-123456789abc", want: Key{"af-9", TypeEvent, "0b7e3c1a-1111-4c4c-9a9a-123456789abc"}},
		{in: "af-9::log::abc123", want: Key{"af-9", TypeLog, "abc123"}},
		{in: "test-client-001::topology::Pod/default/web-1", want: Key{"test-client-001", TypeTopology, "Pod/default/web-1"}},
		{in: "af-9::topology::Node//node-1", want: Key{"af-9", TypeTopology, "Node//node-1"}},
		{in: "af-9::topology::ClusterRole//system:controller:x", want: Key{"af-9", TypeTopology, "ClusterRole//system:controller:x"}},
		{in: "af-9::evt-" + hex16, want: Key{"af-9", TypeNormalizedEvent, "evt-" + hex16}},
		{in: "af-9::log-" + hex16, want: Key{"af-9", TypeNormalizedLog, "log-" + hex16}},
		{in: "af-9::evt-" + strings.Repeat("a", 64), want: Key{"af-9", TypeNormalizedEvent, "evt-" + strings.Repeat("a", 64)}},
		// The client id alone: producers keying by client id for a stock murmur2 partitioner.
		{in: "af-9", want: Key{"af-9", TypeClient, ""}},
		{in: "test-client-001", want: Key{"test-client-001", TypeClient, ""}},

		{in: "", wantErr: "empty key"},
		{in: "AF-9", wantErr: "neither a client id nor"},
		{in: "a", wantErr: "shorter than 3 characters"},
		{in: "af-9:event:x", wantErr: "neither a client id nor"},
		{in: "::event::x", wantErr: "invalid client id"},
		{in: "AF-9::event::x", wantErr: "invalid client id"},
		{in: "af-::event::x", wantErr: "invalid client id"},
		{in: "a::event::x", wantErr: "invalid client id"},
		{in: "af-9::event::", wantErr: "empty id"},
		{in: "af-9::::x", wantErr: "empty type"},
		{in: "af-9::pod::x", wantErr: "unknown key type"},
		{in: "af-9::", wantErr: "empty id"},
		{in: "af-9::event::a::b", wantErr: "contains \"::\""},
		{in: "af-9::event::a b", wantErr: "space or slash"},
		{in: "af-9::event::a/b", wantErr: "space or slash"},
		{in: "af-9::event::a\x00b", wantErr: "control character"},
		{in: "af-9::event::a\nb", wantErr: "control character"},
		{in: "af-9::event::a\u0085b", wantErr: "control character"},
		{in: "af-9::event::\xff\xfe", wantErr: "not valid UTF-8"},
		{in: "af-9::event::" + strings.Repeat("x", MaxKeyLen), wantErr: "the limit is"},
		{in: "af-9::topology::Pod/default", wantErr: "want <kind>/<namespace>/<name>"},
		{in: "af-9::topology::Pod/a/b/c", wantErr: "want <kind>/<namespace>/<name>"},
		{in: "af-9::topology::/default/x", wantErr: "empty kind or name"},
		{in: "af-9::topology::Pod/default/", wantErr: "empty kind or name"},
		{in: "af-9::evt-" + hex16[:15], wantErr: "hex digits"},
		{in: "af-9::evt-" + strings.Repeat("a", 65), wantErr: "hex digits"},
		{in: "af-9::evt-0123456789ABCDEF", wantErr: "lowercase hex"},
		{in: "af-9::evt-0123456789abcdeg", wantErr: "lowercase hex"},
		{in: "af-9::xyz-" + hex16, wantErr: "unknown key shape"},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 60)], func(t *testing.T) {
			got, err := ParseKey([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseKey(%q) = %+v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKey(%q) error %q, want it to contain %q", tt.in, err, tt.wantErr)
				}
				if !errors.Is(err, ErrBadKey) {
					t.Fatalf("ParseKey(%q) error %v does not wrap ErrBadKey", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseKey(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Fatalf("String() = %q, want %q", s, tt.in)
			}
		})
	}
}

func TestKeyClient(t *testing.T) {
	tests := []struct {
		in      []byte
		want    string
		wantErr string
	}{
		{[]byte("af-9::event::x"), "af-9", ""},
		{[]byte("af-9::"), "af-9", ""}, // the rest is ParseKey's business, where the record is processed
		{[]byte("af-9::evt-0123456789abcdef"), "af-9", ""},
		{[]byte("af-9"), "af-9", ""},
		{[]byte("AF-9::event::x"), "", "must start with a lowercase letter"},
		{[]byte("::event::x"), "", "empty"},
		{[]byte("a:b::x"), "", "not a lowercase letter"},
		{[]byte(""), "", "empty"},
		{nil, "", "no key"},
	}
	for _, tt := range tests {
		got, err := KeyClient(tt.in)
		if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("KeyClient(%q) = %q, %v; want %q, error containing %q", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrBadKey) {
			t.Errorf("KeyClient(%q) error %v does not wrap ErrBadKey", tt.in, err)
		}
	}
}

func TestHasClientPrefix(t *testing.T) {
	tests := []struct {
		key, client string
		want        bool
	}{
		{"af-9::event::x", "af-9", true},
		{"af-9::", "af-9", true},
		{"af-90::event::x", "af-9", false}, // a longer client id sharing the prefix
		{"af-9:event::x", "af-9", false},
		{"af-9", "af-9", false},
		{"", "af-9", false},
		{"bf-9::event::x", "af-9", false},
	}
	for _, tt := range tests {
		if got := HasClientPrefix([]byte(tt.key), tt.client); got != tt.want {
			t.Errorf("HasClientPrefix(%q, %q) = %v, want %v", tt.key, tt.client, got, tt.want)
		}
		// IsClientKey also accepts the client id alone.
		if got, want := IsClientKey([]byte(tt.key), tt.client), tt.want || tt.key == tt.client; got != want {
			t.Errorf("IsClientKey(%q, %q) = %v, want %v", tt.key, tt.client, got, want)
		}
	}
}

// FuzzParseKey: never panics; every accepted key round-trips through String,
// has a valid client and agrees with KeyClient and IsClientKey.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"af-9::event::uid-1", "af-9::log::x", "af-9::topology::Pod/ns/n", "af-9::topology::Node//n",
		"af-9::evt-0123456789abcdef", "af-9::log-0123456789abcdef", "", "::", "af-9::::", "a::b::c::d",
		"af-9::event::\x00", "af-9::evt-XYZ", "af-9", "af-9:",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v does not wrap ErrBadKey", err)
			}
			return
		}
		if k.String() != string(b) {
			t.Fatalf("round trip: %q -> %+v -> %q", b, k, k.String())
		}
		c, err := KeyClient(b)
		if err != nil || c != k.Client {
			t.Fatalf("KeyClient(%q) = %q, %v; ParseKey says client %q", b, c, err, k.Client)
		}
		if !IsClientKey(b, k.Client) {
			t.Fatalf("IsClientKey(%q, %q) = false", b, k.Client)
		}
		if k.Type == "" || (k.ID == "") != (k.Type == TypeClient) {
			t.Fatalf("accepted key with empty part: %+v", k)
		}
	})
}

func TestParseBrokers(t *testing.T) {
	for in, want := range map[string]string{
		"a:1":            "a:1",
		" a:1 , b:2 ,, ": "a:1|b:2",
		"":               "",
		" , ":            "",
	} {
		if got := strings.Join(ParseBrokers(in), "|"); got != want {
			t.Errorf("ParseBrokers(%q) = %q, want %q", in, got, want)
		}
	}
}
