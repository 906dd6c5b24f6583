package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kgrca/kgplane/scheduler"
)

func cmdClients(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("clients", "list clients and their jobs from a running control plane", stderr)
	addr := fs.String("addr", envOr("KG_HTTP_ADDR", "127.0.0.1:8080"), "control plane HTTP address (KG_HTTP_ADDR)")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url := *addr
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/clients", nil)
	if err != nil {
		return fmt.Errorf("--addr %q is not an address like 127.0.0.1:8080: %w", *addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("asking the control plane at %s (is kg-control-plane running? set --addr or KG_HTTP_ADDR): %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading /v1/clients: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/v1/clients answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var out struct {
		Ready      bool                     `json:"ready"`
		WaitingFor string                   `json:"waiting_for"`
		Clients    []scheduler.ClientStatus `json:"clients"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("decoding /v1/clients: %w", err)
	}
	printClients(stdout, out.Ready, out.WaitingFor, out.Clients)
	return nil
}

func printClients(w io.Writer, ready bool, waitingFor string, clients []scheduler.ClientStatus) {
	if !ready {
		fmt.Fprintf(w, "(control plane not ready yet: waiting for %s)\n", waitingFor)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tPHASE\tCLUSTER\tLAST HEARTBEAT\tJOBS")
	for _, c := range clients {
		hb := "never"
		if c.HeartbeatAge != nil {
			hb = (time.Duration(*c.HeartbeatAge * float64(time.Second))).Round(time.Second).String() + " ago"
		}
		jobs := make([]string, 0, len(c.Jobs))
		for _, j := range c.Jobs {
			jobs = append(jobs, j.ID+"("+j.Status+")")
		}
		js := strings.Join(jobs, " ")
		if js == "" {
			js = "-"
		}
		cluster := c.ClusterName
		if cluster == "" {
			cluster = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Phase, cluster, hb, js)
	}
	tw.Flush()
	if len(clients) == 0 {
		fmt.Fprintln(w, "no clients yet: register one with 'kgctl register --client af-9'")
	}
}
