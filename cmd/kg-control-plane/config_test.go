package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{name: "defaults", check: func(t *testing.T, c config) {
			if c.threshold != 2*time.Minute || c.checkInterval != 30*time.Second || c.nomadRate != 200 || c.workers != 4 ||
				!c.ensureTopics || c.dataPartitions != 12 || c.brokers != "127.0.0.1:9092" {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "fractional threshold and a spaced broker list", env: map[string]string{
			"STALE_CLIENT_THRESHOLD_MINUTES": "0.05", "KAFKA_BROKERS": " a:9092, b:9092 ,,"},
			check: func(t *testing.T, c config) {
				if c.threshold != 3*time.Second || c.brokers != "a:9092,b:9092" || len(c.brokerList) != 2 {
					t.Errorf("got threshold %s brokers %q", c.threshold, c.brokers)
				}
			}},
		{name: "flag wins over env", env: map[string]string{"KG_RECONCILE_WORKERS": "2"}, args: []string{"--workers", "7"},
			check: func(t *testing.T, c config) {
				if c.workers != 7 {
					t.Errorf("workers = %d", c.workers)
				}
			}},
		{name: "threshold not a number", env: map[string]string{"STALE_CLIENT_THRESHOLD_MINUTES": "two"}, wantErr: `STALE_CLIENT_THRESHOLD_MINUTES="two"`},
		{name: "zero interval", env: map[string]string{"HEARTBEAT_CHECK_INTERVAL_SECONDS": "0"}, wantErr: "HEARTBEAT_CHECK_INTERVAL_SECONDS"},
		{name: "rate not a number", env: map[string]string{"NOMAD_RATE_LIMIT": "fast"}, wantErr: `NOMAD_RATE_LIMIT="fast"`},
		{name: "workers not whole", env: map[string]string{"KG_RECONCILE_WORKERS": "x"}, wantErr: "KG_RECONCILE_WORKERS"},
		{name: "ensure topics not a bool", env: map[string]string{"KG_ENSURE_TOPICS": "maybe"}, wantErr: "KG_ENSURE_TOPICS"},
		{name: "bad log level", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "bad log format", env: map[string]string{"LOG_FORMAT": "yaml"}, wantErr: "LOG_FORMAT"},
		{name: "no brokers", env: map[string]string{"KAFKA_BROKERS": " , "}, wantErr: "KAFKA_BROKERS is empty"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "--help"},
		{name: "stray argument", args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"KAFKA_BROKERS", "STALE_CLIENT_THRESHOLD_MINUTES", "HEARTBEAT_CHECK_INTERVAL_SECONDS",
				"NOMAD_RATE_LIMIT", "KG_RECONCILE_WORKERS", "KG_ENSURE_TOPICS", "LOG_LEVEL", "LOG_FORMAT", "KG_DATA_PARTITIONS"} {
				t.Setenv(k, c.env[k])
			}
			cfg, err := parseConfig(c.args, &bytes.Buffer{})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
}

func TestHelpGoesToStdout(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage:", "STALE_CLIENT_THRESHOLD_MINUTES", "NOMAD_ADDR", "Examples:", "-jobspecs-dir",
		"KG_BACKEND=nomad NOMAD_ADDR=", "KG_BACKEND=embedded", "the embedded backend uses none of them"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
