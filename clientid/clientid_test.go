package clientid

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		id     string
		ok     bool
		reason string
	}{
		{"af-9", true, ""},
		{"test-client-001", true, ""},
		{"abc", true, ""},
		{"a" + strings.Repeat("b", 62), true, ""},
		{"", false, "empty"},
		{"ab", false, "shorter than 3"},
		{"a" + strings.Repeat("b", 63), false, "limit is 63"},
		{"Af-9", false, "start with a lowercase letter"},
		{"af-Nine", false, "'N' at offset 3"},
		{"9af", false, "start with a lowercase letter"},
		{"-af", false, "start with a lowercase letter"},
		{"af-", false, "end with a hyphen"},
		{"af_9", false, "'_'"},
		{"af::9", false, "':'"},
		{"af..9", false, "'.'"},
		{"af 9", false, "' '"},
		{"afé9", false, "'é'"},
		{"af/9", false, "'/'"},
	}
	for _, c := range cases {
		err := Validate(c.id)
		if c.ok {
			if err != nil {
				t.Errorf("Validate(%q) = %v, want nil", c.id, err)
			}
			continue
		}
		var inv *InvalidError
		if !errors.As(err, &inv) {
			t.Errorf("Validate(%q) = %v, want *InvalidError", c.id, err)
			continue
		}
		if !strings.Contains(err.Error(), c.reason) {
			t.Errorf("Validate(%q) error %q does not mention %q", c.id, err, c.reason)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"af-9", "", "A", "a::b", "ü-ü-ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := Validate(id)
		if (err == nil) != re.MatchString(id) {
			t.Fatalf("Validate(%q) = %v disagrees with the pattern", id, err)
		}
	})
}
