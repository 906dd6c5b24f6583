package nomad

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Job is a rendered template evaluated for one client the way Nomad's HCL2
// job parser evaluates it (variables, the operator var-file, locals, dynamic
// blocks, validation blocks, Nomad's function set), reduced to what a runner on
// one machine needs: the embedded backend (nomad/embedded) runs exactly this.
// Nomad stays the authority on the full jobspec schema: blocks and attributes
// a runner cannot honour (update, reschedule targets, constraints, resources
// limits...) are not represented, and those that change what runs (lifecycle,
// several drivers) are reported in Unsupported.
type Job struct {
	ID, Name string
	// Type is service (the default), batch, system or sysbatch.
	Type   string
	Meta   map[string]string
	Groups []Group
	// Unsupported lists what the job asks for that Job cannot represent, as
	// "file:line: what", so a runner can refuse it instead of running
	// something else.
	Unsupported []string
}

// Group is one task group of a Job.
type Group struct {
	Name       string
	Count      int
	Restart    RestartPolicy
	Reschedule ReschedulePolicy
	Ports      []Port
	Meta       map[string]string
	Tasks      []Task
}

// Port is a `network { port "label" { static, to } }` entry; Static 0 is a
// dynamic port.
type Port struct {
	Label      string
	Static, To int
}

// Task is one task of a Group.
type Task struct {
	Name, Driver string
	// Config is the driver's config block as plain JSON values (string,
	// float64, bool, []any, map[string]any).
	Config map[string]any
	// Env is the env block. Values may still hold Nomad's runtime
	// interpolations such as ${NOMAD_PORT_metrics}: the runner fills them in.
	Env       map[string]string
	Templates []TaskTemplate
	// KillSignal is e.g. "SIGTERM"; "" means the driver's default.
	KillSignal  string
	KillTimeout time.Duration
	Restart     RestartPolicy // the group's, overridden by the task's own block
	Logs        LogsPolicy
	Meta        map[string]string
	User        string
	CPU         int // MHz
	MemoryMB    int
}

// TaskTemplate is a task's `template` block.
type TaskTemplate struct {
	Data, Source, Destination string
	Env                       bool
	ChangeMode                string
	LeftDelim, RightDelim     string
}

// RestartPolicy is a `restart` block: how a task that exits is restarted in
// place.
type RestartPolicy struct {
	Attempts int
	Interval time.Duration
	Delay    time.Duration
	// Mode is "fail" (give up after Attempts in Interval) or "delay" (wait for
	// the rest of the Interval, then start counting again).
	Mode string
}

// ReschedulePolicy is a `reschedule` block: what happens to an allocation
// whose restarts gave up.
type ReschedulePolicy struct {
	Attempts      int
	Interval      time.Duration
	Delay         time.Duration
	DelayFunction string // constant, exponential or fibonacci
	MaxDelay      time.Duration
	Unlimited     bool
}

// LogsPolicy is a task's `logs` block.
type LogsPolicy struct {
	MaxFiles, MaxFileSizeMB int
}

// Nomad's defaults for what a jobspec leaves out (Nomad 1.x–2.x:
// structs.DefaultServiceJobRestartPolicy and friends).
func defaultRestart(jobType string) RestartPolicy {
	if jobType == "batch" || jobType == "sysbatch" {
		return RestartPolicy{Attempts: 3, Interval: 24 * time.Hour, Delay: 15 * time.Second, Mode: "fail"}
	}
	return RestartPolicy{Attempts: 2, Interval: 30 * time.Minute, Delay: 15 * time.Second, Mode: "fail"}
}

func defaultReschedule(jobType string) ReschedulePolicy {
	if jobType == "batch" || jobType == "sysbatch" {
		return ReschedulePolicy{Attempts: 1, Interval: 24 * time.Hour, Delay: 5 * time.Second, DelayFunction: "constant"}
	}
	return ReschedulePolicy{Delay: 30 * time.Second, DelayFunction: "exponential", MaxDelay: time.Hour, Unlimited: true}
}

const defaultKillTimeout = 5 * time.Second

// evalContext is the context every expression of a template is evaluated in:
// var.*, local.* and the functions.
func (p *parsedTemplate) evalContext(vals map[string]cty.Value) (*hcl.EvalContext, hcl.Diagnostics) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vals)}, Functions: hclFunctions()}
	if len(p.locals) == 0 {
		return ctx, nil
	}
	// Locals may refer to each other in any order: evaluate what can be
	// evaluated until nothing more can, as Nomad does.
	pending := map[string]*hclsyntax.Attribute{}
	for _, b := range p.locals {
		maps.Copy(pending, b.Body.Attributes)
	}
	locals := map[string]cty.Value{}
	for len(pending) > 0 {
		progress := false
		for _, name := range slices.Sorted(maps.Keys(pending)) {
			a := pending[name]
			ready := true
			for _, tr := range a.Expr.Variables() {
				if tr.RootName() != "local" || len(tr) < 2 {
					continue
				}
				if ref, ok := tr[1].(hcl.TraverseAttr); ok {
					if _, waiting := pending[ref.Name]; waiting {
						ready = false
					}
				}
			}
			if !ready {
				continue
			}
			ctx.Variables["local"] = cty.ObjectVal(locals)
			v, diags := a.Expr.Value(ctx)
			if diags.HasErrors() {
				return nil, diags
			}
			locals[name] = v
			delete(pending, name)
			progress = true
		}
		if !progress {
			a := pending[slices.Sorted(maps.Keys(pending))[0]]
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "locals refer to each other in a cycle", Subject: a.SrcRange.Ptr()}}
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx, nil
}

// checkValidations runs every variable's validation blocks, as Nomad does
// when it parses a job: a failed condition is an error with its message.
func (p *parsedTemplate) checkValidations(vals map[string]cty.Value) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range slices.Sorted(maps.Keys(p.vars)) {
		for _, vb := range p.vars[name].validations {
			ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{name: vals[name]})}, Functions: hclFunctions()}
			cond, ok := vb.Body.Attributes["condition"]
			if !ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "validation block without a condition", Subject: vb.DefRange().Ptr()})
				continue
			}
			v, d := cond.Expr.Value(ctx)
			if d.HasErrors() {
				diags = append(diags, d...)
				continue
			}
			if v.IsNull() || !v.IsKnown() || v.Type() != cty.Bool {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "validation condition is not a boolean", Subject: cond.Expr.Range().Ptr()})
				continue
			}
			if v.True() {
				continue
			}
			msg := fmt.Sprintf("invalid value for variable %q", name)
			if em, ok := vb.Body.Attributes["error_message"]; ok {
				if mv, d := em.Expr.Value(nil); !d.HasErrors() && mv.Type() == cty.String && !mv.IsNull() {
					msg = mv.AsString()
				}
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable", Detail: msg, Subject: cond.Expr.Range().Ptr()})
		}
	}
	return diags
}

// Job evaluates r's template with r's variables (the operator var-file and the
// client's), the way Nomad's /v1/jobs/parse does, and returns the job. Errors
// carry file:line:col.
func (r Rendered) Job() (*Job, error) {
	p := r.Template.parsed
	if p == nil || p.job == nil {
		return nil, fmt.Errorf("evaluating template %s: it was not loaded by LoadTemplates", r.Template.Name)
	}
	fail := func(diags hcl.Diagnostics) (*Job, error) {
		return nil, fmt.Errorf("evaluating template %s for client %s: %w", r.Template.Name, r.ClientID, &DiagnosticsError{Diagnostics: diags})
	}
	vals, diags := p.varValues(r.VariableMap)
	if diags.HasErrors() {
		return fail(diags)
	}
	if diags := p.checkValidations(vals); diags.HasErrors() {
		return fail(diags)
	}
	ctx, diags := p.evalContext(vals)
	if diags.HasErrors() {
		return fail(diags)
	}
	d := &decoder{ctx: ctx}
	job := d.job(p.job)
	if d.diags.HasErrors() {
		return fail(d.diags)
	}
	if job.ID != r.JobID {
		return nil, fmt.Errorf("evaluating template %s: the job id evaluates to %q, rendered as %q", r.Template.Name, job.ID, r.JobID)
	}
	return job, nil
}

// decoder walks a job block with a partial schema: only what Job represents
// is evaluated; everything else is Nomad's to check.
type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
	unsup []string
}

func (d *decoder) unsupported(rng hcl.Range, what string) {
	d.unsup = append(d.unsup, fmt.Sprintf("%s:%d: %s", rng.Filename, rng.Start.Line, what))
}

// eval evaluates expr. Like Nomad's HCL2 parser, a reference whose root is not
// a variable the job declares (NOMAD_PORT_http, node.unique.name, attr.x,
// meta.x, ...) is a runtime interpolation: it evaluates to its own source,
// "${NOMAD_PORT_http}", which the client fills in when the task starts.
func (d *decoder) eval(expr hcl.Expression) cty.Value {
	ctx := d.ctx
	runtime := map[string]cty.Value{}
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		if root == "var" || root == "local" {
			continue
		}
		runtime[root] = placeholder(runtime[root], tr, root, 1)
	}
	if len(runtime) > 0 {
		ctx = ctx.NewChild()
		ctx.Variables = runtime
	}
	v, diags := expr.Value(ctx)
	d.diags = append(d.diags, diags...)
	return v
}

// placeholder builds the value a runtime reference evaluates to: the string
// "${a.b.c}" at the end of the traversal, objects on the way there, merged with
// what other references of the same root built (prev).
func placeholder(prev cty.Value, tr hcl.Traversal, path string, i int) cty.Value {
	if i >= len(tr) {
		return cty.StringVal("${" + path + "}")
	}
	step, ok := tr[i].(hcl.TraverseAttr)
	if !ok { // an index step: not a runtime reference Nomad knows either
		return cty.StringVal("${" + path + "}")
	}
	attrs := map[string]cty.Value{}
	if prev != cty.NilVal && prev.Type().IsObjectType() {
		attrs = prev.AsValueMap()
		if attrs == nil {
			attrs = map[string]cty.Value{}
		}
	}
	attrs[step.Name] = placeholder(attrs[step.Name], tr, path+"."+step.Name, i+1)
	return cty.ObjectVal(attrs)
}

func (d *decoder) str(a *hcl.Attribute) string {
	v := d.eval(a.Expr)
	if v.IsNull() || !v.IsKnown() {
		return ""
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "want a string", Detail: err.Error(), Subject: a.Expr.Range().Ptr()})
		return ""
	}
	return s.AsString()
}

func (d *decoder) num(a *hcl.Attribute) int {
	v := d.eval(a.Expr)
	if v.IsNull() || !v.IsKnown() {
		return 0
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil {
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "want a number", Detail: err.Error(), Subject: a.Expr.Range().Ptr()})
		return 0
	}
	i, _ := n.AsBigFloat().Int64()
	return int(i)
}

func (d *decoder) boolean(a *hcl.Attribute) bool {
	v := d.eval(a.Expr)
	if v.IsNull() || !v.IsKnown() {
		return false
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil {
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "want a bool", Detail: err.Error(), Subject: a.Expr.Range().Ptr()})
		return false
	}
	return b.True()
}

// duration reads a Nomad duration: a string such as "15s" (or a number of
// nanoseconds).
func (d *decoder) duration(a *hcl.Attribute) time.Duration {
	v := d.eval(a.Expr)
	if v.IsNull() || !v.IsKnown() {
		return 0
	}
	if v.Type() == cty.Number {
		i, _ := v.AsBigFloat().Int64()
		return time.Duration(i)
	}
	s := d.str(a)
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "want a duration such as \"15s\"", Detail: err.Error(), Subject: a.Expr.Range().Ptr()})
	}
	return dur
}

// stringMap reads a block or attribute of string values (env, meta).
func (d *decoder) stringMap(body hcl.Body) map[string]string {
	attrs, diags := body.JustAttributes()
	d.diags = append(d.diags, diags...)
	out := make(map[string]string, len(attrs))
	for name, a := range attrs {
		out[name] = d.str(a)
	}
	return out
}

func (d *decoder) stringMapAttr(a *hcl.Attribute) map[string]string {
	v := d.eval(a.Expr)
	out := map[string]string{}
	if v.IsNull() || !v.IsKnown() || !v.CanIterateElements() {
		return out
	}
	for k, e := range v.AsValueMap() {
		s, err := convert.Convert(e, cty.String)
		if err != nil || s.IsNull() {
			d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "want a map of strings", Subject: a.Expr.Range().Ptr()})
			continue
		}
		out[k] = s.AsString()
	}
	return out
}

func (d *decoder) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	c, _, diags := body.PartialContent(schema)
	d.diags = append(d.diags, diags...)
	return c
}

func (d *decoder) job(b *hclsyntax.Block) *Job {
	body := dynblock.Expand(b.Body, d.ctx)
	c := d.content(body, &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "id"}, {Name: "name"}, {Name: "type"}, {Name: "meta"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "group", LabelNames: []string{"name"}}, {Type: "meta"}, {Type: "restart"}, {Type: "reschedule"}},
	})
	job := &Job{Type: "service", Meta: map[string]string{}}
	if len(b.Labels) > 0 {
		job.ID, job.Name = b.Labels[0], b.Labels[0]
	}
	if a, ok := c.Attributes["id"]; ok {
		job.ID = d.str(a)
	}
	if a, ok := c.Attributes["name"]; ok {
		job.Name = d.str(a)
	}
	if a, ok := c.Attributes["type"]; ok {
		job.Type = d.str(a)
	}
	if a, ok := c.Attributes["meta"]; ok {
		maps.Copy(job.Meta, d.stringMapAttr(a))
	}
	restart, reschedule := defaultRestart(job.Type), defaultReschedule(job.Type)
	for _, blk := range c.Blocks {
		switch blk.Type {
		case "meta":
			maps.Copy(job.Meta, d.stringMap(blk.Body))
		case "restart":
			restart = d.restart(blk.Body, restart)
		case "reschedule":
			reschedule = d.reschedule(blk.Body, reschedule)
		}
	}
	for _, blk := range c.Blocks {
		if blk.Type == "group" {
			job.Groups = append(job.Groups, d.group(blk, job, restart, reschedule))
		}
	}
	job.Unsupported = d.unsup
	return job
}

func (d *decoder) restart(body hcl.Body, p RestartPolicy) RestartPolicy {
	c := d.content(body, &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "attempts"}, {Name: "interval"}, {Name: "delay"}, {Name: "mode"}, {Name: "render_templates"}}})
	if a, ok := c.Attributes["attempts"]; ok {
		p.Attempts = d.num(a)
	}
	if a, ok := c.Attributes["interval"]; ok {
		p.Interval = d.duration(a)
	}
	if a, ok := c.Attributes["delay"]; ok {
		p.Delay = d.duration(a)
	}
	if a, ok := c.Attributes["mode"]; ok {
		p.Mode = d.str(a)
	}
	return p
}

func (d *decoder) reschedule(body hcl.Body, p ReschedulePolicy) ReschedulePolicy {
	c := d.content(body, &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "attempts"}, {Name: "interval"}, {Name: "delay"}, {Name: "delay_function"}, {Name: "max_delay"}, {Name: "unlimited"},
	}})
	if a, ok := c.Attributes["attempts"]; ok {
		p.Attempts = d.num(a)
	}
	if a, ok := c.Attributes["interval"]; ok {
		p.Interval = d.duration(a)
	}
	if a, ok := c.Attributes["delay"]; ok {
		p.Delay = d.duration(a)
	}
	if a, ok := c.Attributes["delay_function"]; ok {
		p.DelayFunction = d.str(a)
	}
	if a, ok := c.Attributes["max_delay"]; ok {
		p.MaxDelay = d.duration(a)
	}
	if a, ok := c.Attributes["unlimited"]; ok {
		p.Unlimited = d.boolean(a)
	}
	return p
}

func (d *decoder) group(blk *hcl.Block, job *Job, restart RestartPolicy, reschedule ReschedulePolicy) Group {
	c := d.content(blk.Body, &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "count"}, {Name: "meta"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "task", LabelNames: []string{"name"}}, {Type: "network"}, {Type: "restart"}, {Type: "reschedule"}, {Type: "meta"},
		},
	})
	g := Group{Name: blk.Labels[0], Count: 1, Meta: map[string]string{}}
	if a, ok := c.Attributes["count"]; ok {
		g.Count = d.num(a)
	}
	if a, ok := c.Attributes["meta"]; ok {
		maps.Copy(g.Meta, d.stringMapAttr(a))
	}
	for _, b := range c.Blocks {
		switch b.Type {
		case "restart":
			restart = d.restart(b.Body, restart)
		case "reschedule":
			reschedule = d.reschedule(b.Body, reschedule)
		case "meta":
			maps.Copy(g.Meta, d.stringMap(b.Body))
		case "network":
			g.Ports = append(g.Ports, d.ports(b)...)
		}
	}
	g.Restart, g.Reschedule = restart, reschedule
	for _, b := range c.Blocks {
		if b.Type == "task" {
			g.Tasks = append(g.Tasks, d.task(b, restart))
		}
	}
	return g
}

func (d *decoder) ports(blk *hcl.Block) []Port {
	c := d.content(blk.Body, &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "mode"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "port", LabelNames: []string{"label"}}},
	})
	if a, ok := c.Attributes["mode"]; ok {
		if m := d.str(a); m != "host" {
			d.unsupported(a.Range, fmt.Sprintf("network mode %q (only host networking exists on one machine)", m))
		}
	}
	var out []Port
	for _, b := range c.Blocks {
		pc := d.content(b.Body, &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "static"}, {Name: "to"}}})
		p := Port{Label: b.Labels[0]}
		if a, ok := pc.Attributes["static"]; ok {
			p.Static = d.num(a)
		}
		if a, ok := pc.Attributes["to"]; ok {
			p.To = d.num(a)
		}
		out = append(out, p)
	}
	return out
}

func (d *decoder) task(blk *hcl.Block, restart RestartPolicy) Task {
	c := d.content(blk.Body, &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "driver", Required: true}, {Name: "kill_signal"}, {Name: "kill_timeout"}, {Name: "user"}, {Name: "env"}, {Name: "meta"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "config"}, {Type: "env"}, {Type: "template"}, {Type: "restart"}, {Type: "logs"}, {Type: "meta"},
			{Type: "resources"}, {Type: "lifecycle"}, {Type: "artifact"},
		},
	})
	t := Task{Name: blk.Labels[0], Env: map[string]string{}, Meta: map[string]string{}, KillTimeout: defaultKillTimeout,
		Restart: restart, Logs: LogsPolicy{MaxFiles: 10, MaxFileSizeMB: 10}}
	if a, ok := c.Attributes["driver"]; ok {
		t.Driver = d.str(a)
	}
	if a, ok := c.Attributes["kill_signal"]; ok {
		t.KillSignal = d.str(a)
	}
	if a, ok := c.Attributes["kill_timeout"]; ok {
		t.KillTimeout = d.duration(a)
	}
	if a, ok := c.Attributes["user"]; ok {
		t.User = d.str(a)
	}
	if a, ok := c.Attributes["env"]; ok {
		maps.Copy(t.Env, d.stringMapAttr(a))
	}
	if a, ok := c.Attributes["meta"]; ok {
		maps.Copy(t.Meta, d.stringMapAttr(a))
	}
	configs := 0
	for _, b := range c.Blocks {
		switch b.Type {
		case "config":
			configs++
			t.Config = d.config(b.Body)
		case "env":
			maps.Copy(t.Env, d.stringMap(b.Body))
		case "meta":
			maps.Copy(t.Meta, d.stringMap(b.Body))
		case "restart":
			t.Restart = d.restart(b.Body, t.Restart)
		case "template":
			t.Templates = append(t.Templates, d.template(b.Body))
		case "logs":
			lc := d.content(b.Body, &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "max_files"}, {Name: "max_file_size"}, {Name: "disabled"}}})
			if a, ok := lc.Attributes["max_files"]; ok {
				t.Logs.MaxFiles = d.num(a)
			}
			if a, ok := lc.Attributes["max_file_size"]; ok {
				t.Logs.MaxFileSizeMB = d.num(a)
			}
		case "resources":
			rc := d.content(b.Body, &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "cpu"}, {Name: "memory"}}})
			if a, ok := rc.Attributes["cpu"]; ok {
				t.CPU = d.num(a)
			}
			if a, ok := rc.Attributes["memory"]; ok {
				t.MemoryMB = d.num(a)
			}
		case "lifecycle":
			d.unsupported(b.DefRange, fmt.Sprintf("task %q has a lifecycle block (prestart/poststart/poststop hooks)", t.Name))
		case "artifact":
			d.unsupported(b.DefRange, fmt.Sprintf("task %q downloads an artifact", t.Name))
		}
	}
	if configs > 1 {
		d.unsupported(blk.DefRange, fmt.Sprintf("task %q has %d config blocks (a dynamic block produced more than one)", t.Name, configs))
	}
	if t.Config == nil {
		t.Config = map[string]any{}
	}
	return t
}

// config reads a driver config block as plain values: every attribute and
// nested block, evaluated, through cty's JSON encoding.
func (d *decoder) config(body hcl.Body) map[string]any {
	attrs, diags := body.JustAttributes()
	d.diags = append(d.diags, diags...)
	out := make(map[string]any, len(attrs))
	for name, a := range attrs {
		v := d.eval(a.Expr)
		if v.IsNull() || !v.IsWhollyKnown() {
			continue
		}
		raw, err := ctyjson.SimpleJSONValue{Value: v}.MarshalJSON()
		if err != nil {
			d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "config value cannot be represented", Detail: err.Error(), Subject: a.Expr.Range().Ptr()})
			continue
		}
		var x any
		if err := json.Unmarshal(raw, &x); err != nil {
			d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "config value cannot be represented", Detail: err.Error(), Subject: a.Expr.Range().Ptr()})
			continue
		}
		out[name] = x
	}
	return out
}

func (d *decoder) template(body hcl.Body) TaskTemplate {
	c := d.content(body, &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "data"}, {Name: "source"}, {Name: "destination"}, {Name: "env"}, {Name: "change_mode"}, {Name: "left_delimiter"}, {Name: "right_delimiter"},
	}})
	t := TaskTemplate{ChangeMode: "restart", LeftDelim: "{{", RightDelim: "}}"}
	for name, dst := range map[string]*string{"data": &t.Data, "source": &t.Source, "destination": &t.Destination,
		"change_mode": &t.ChangeMode, "left_delimiter": &t.LeftDelim, "right_delimiter": &t.RightDelim} {
		if a, ok := c.Attributes[name]; ok {
			*dst = d.str(a)
		}
	}
	if a, ok := c.Attributes["env"]; ok {
		t.Env = d.boolean(a)
	}
	return t
}

// ConfigString is a string of a task's driver config ("" when absent).
func (t Task) ConfigString(key string) string {
	s, _ := t.Config[key].(string)
	return s
}

// ConfigStrings is a list of strings of a task's driver config (e.g. args).
func (t Task) ConfigStrings(key string) ([]string, error) {
	raw, ok := t.Config[key]
	if !ok || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("config %s of task %s is not a list", key, t.Name)
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		switch v := e.(type) {
		case string:
			out = append(out, v)
		case float64:
			out = append(out, strconv.FormatFloat(v, 'f', -1, 64))
		case bool:
			out = append(out, strconv.FormatBool(v))
		default:
			return nil, fmt.Errorf("config %s[%d] of task %s is not a string", key, i, t.Name)
		}
	}
	return out, nil
}

// String describes the job in one line, for logs.
func (j *Job) String() string {
	var tasks []string
	for _, g := range j.Groups {
		for _, t := range g.Tasks {
			tasks = append(tasks, g.Name+"/"+t.Name+"("+t.Driver+")")
		}
	}
	return j.ID + " [" + strings.Join(tasks, " ") + "]"
}
