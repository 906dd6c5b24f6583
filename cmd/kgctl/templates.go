package main

import (
	"fmt"
	"io"
	"os"

	"github.com/kgrca/kgplane/clientid"
	"github.com/kgrca/kgplane/nomad"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", "check the job templates and the operator var-file", stderr)
	dir := fs.String("jobspecs-dir", envOr("JOBSPECS_DIR", "jobspecs"), "templates folder (JOBSPECS_DIR)")
	vars := fs.String("vars-file", envOr("JOBSPEC_VARS_FILE", ""), "operator var-file (JOBSPEC_VARS_FILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ts, err := nomad.LoadTemplates(*dir, *vars)
	if err != nil {
		return fmt.Errorf("templates are invalid:\n%w", err)
	}
	for _, t := range ts.Templates {
		r, err := ts.Render(t, nomad.ClientVars{ClientID: "example-client", Neo4jDatabase: "example-client", KafkaBrokers: "127.0.0.1:9092"})
		if err != nil {
			return fmt.Errorf("template %s does not render: %w", t.Path, err)
		}
		fmt.Fprintf(stdout, "ok  %-28s job id for client example-client: %s\n", t.Path, r.JobID)
	}
	fmt.Fprintf(stdout, "%d templates valid", len(ts.Templates))
	if *vars != "" {
		fmt.Fprintf(stdout, " with %s", *vars)
	}
	fmt.Fprintln(stdout)
	return nil
}

func cmdRender(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("render", "print what the control plane would submit to Nomad for one client", stderr)
	client := fs.String("client", "", "client id (required)")
	only := fs.String("template", "", "only this template, e.g. event-normalizer")
	dir := fs.String("jobspecs-dir", envOr("JOBSPECS_DIR", "jobspecs"), "templates folder (JOBSPECS_DIR)")
	vars := fs.String("vars-file", envOr("JOBSPEC_VARS_FILE", ""), "operator var-file (JOBSPEC_VARS_FILE)")
	brokers := fs.String("kafka-brokers", envOr("KAFKA_BROKERS", kafkaio.DefaultBrokers(os.Getenv)), "value of var.kafka_brokers (KAFKA_BROKERS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *client == "" {
		return fmt.Errorf("--client is required, e.g. kgctl render --client af-9")
	}
	if err := clientid.Validate(*client); err != nil {
		return err
	}
	ts, err := nomad.LoadTemplates(*dir, *vars)
	if err != nil {
		return fmt.Errorf("templates are invalid:\n%w", err)
	}
	n := 0
	for _, t := range ts.Templates {
		if *only != "" && t.Name != *only {
			continue
		}
		r, err := ts.Render(t, nomad.ClientVars{ClientID: *client, Neo4jDatabase: *client, KafkaBrokers: *brokers})
		if err != nil {
			return fmt.Errorf("rendering %s: %w", t.Path, err)
		}
		fmt.Fprintf(stdout, "# ---- job %s (template %s, sha %.12s)\n", r.JobID, t.Path, t.SHA)
		fmt.Fprintf(stdout, "# variables (sent as Variables to /v1/jobs/parse):\n%s\n", r.Variables)
		fmt.Fprintf(stdout, "# jobspec:\n%s\n", r.HCL)
		n++
	}
	if n == 0 {
		return fmt.Errorf("no template named %q in %s", *only, *dir)
	}
	return nil
}
