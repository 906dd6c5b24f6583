package nomad

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/kgrca/kgplane/clientid"
)

// Names of the template variables the control plane supplies for each client.
const (
	VarClientID      = "client_id"
	VarNeo4jDatabase = "neo4j_database"
	VarKafkaBrokers  = "kafka_brokers"
)

// TemplateExt is the file name suffix of a job template in the templates directory.
const TemplateExt = ".nomad.hcl"

// clientVarNames lists the control-plane variables in the order they are rendered.
func clientVarNames() []string { return []string{VarClientID, VarNeo4jDatabase, VarKafkaBrokers} }

func isClientVar(name string) bool { return slices.Contains(clientVarNames(), name) }

// Template is one validated job template, e.g. jobspecs/event-normalizer.nomad.hcl.
type Template struct {
	// Name is the file name without TemplateExt, e.g. "event-normalizer".
	Name string
	Path string
	// Source is the template file as read.
	Source []byte
	// SHA is the hex sha256 of Source and of the operator var-file source, so an
	// edit of either changes it and the control plane re-applies the jobs.
	SHA string

	parsed *parsedTemplate
}

// TemplateSet is every template of a directory together with the operator var-file.
type TemplateSet struct {
	Templates  []Template
	VarsFile   string // "" when there are no operator variables
	VarsSource []byte // the operator var-file (HCL), sent to Nomad verbatim
}

// Lookup returns the template called name.
func (s *TemplateSet) Lookup(name string) (Template, bool) {
	for _, t := range s.Templates {
		if t.Name == name {
			return t, true
		}
	}
	return Template{}, false
}

// ClientVars are the per-client values of the control-plane variables.
type ClientVars struct {
	ClientID, Neo4jDatabase, KafkaBrokers string
}

func (v ClientVars) byName() map[string]string {
	return map[string]string{
		VarClientID:      v.ClientID,
		VarNeo4jDatabase: v.Neo4jDatabase,
		VarKafkaBrokers:  v.KafkaBrokers,
	}
}

// Rendered is a template rendered for one client: everything Submit sends to Nomad.
type Rendered struct {
	Template Template
	ClientID string
	// JobID is the job's id, computed locally from the template's `id` expression.
	JobID string
	// HCL is the template source, sent unchanged as JobHCL.
	HCL string
	// Variables is the var-file text sent to /v1/jobs/parse: the operator var-file
	// followed by the client's variables.
	Variables string
	// OperatorVariables is the operator var-file alone. Together with VariableMap
	// it is recorded as the JobSubmission exactly as `nomad job run -var ...
	// -var-file=...` would record it.
	OperatorVariables string
	// VariableMap holds the client's variables (client_id, neo4j_database,
	// kafka_brokers): the `-var` flags an operator would pass by hand.
	VariableMap map[string]string
}

// Job meta keys set on every job kgplane submits; ListManaged selects on them.
const (
	MetaManagedBy = "kg_managed_by"
	MetaClient    = "kg_client"
	MetaTemplate  = "kg_template"
	// MetaTemplateSHA is what the job was rendered from: JobSHA of the
	// template, the operator var-file and the client's variables (64 hex).
	MetaTemplateSHA = "kg_template_sha"
	// MetaPlane is the identity of the control plane that owns the job.
	MetaPlane = "kg_plane"
	// MetaTerm is the leadership term of the plane that registered the job.
	MetaTerm = "kg_term"
	// ManagedByValue is the value of MetaManagedBy on kgplane's jobs.
	ManagedByValue = "kgplane"
)

// SHA identifies what the job is rendered from: the template, the operator
// var-file (both in Template.SHA) and the client's variables, as 64 hex
// digits. It is the job's kg_template_sha: equal SHA ⇒ the job Nomad has is
// what would be submitted; a change of any of the three re-applies it.
func (r Rendered) SHA() string {
	h := sha256.New()
	h.Write([]byte(r.Template.SHA))
	h.Write([]byte{0})
	h.Write([]byte(r.Variables))
	return hex.EncodeToString(h.Sum(nil))
}

// Meta returns the kg_* meta of the rendered job (kg_plane and kg_term are
// the control plane's to add).
func (r Rendered) Meta() map[string]string {
	return map[string]string{
		MetaManagedBy:   ManagedByValue,
		MetaClient:      r.ClientID,
		MetaTemplate:    r.Template.Name,
		MetaTemplateSHA: r.SHA(),
	}
}

// DiagnosticsError reports every problem found in a template set, each with its
// file:line:col.
type DiagnosticsError struct {
	Diagnostics hcl.Diagnostics
}

func (e *DiagnosticsError) Error() string {
	var lines []string
	for _, d := range e.Diagnostics {
		if d.Severity == hcl.DiagError {
			lines = append(lines, formatDiagnostic(d))
		}
	}
	return strings.Join(lines, "\n")
}

func formatDiagnostic(d *hcl.Diagnostic) string {
	var b strings.Builder
	if d.Subject != nil {
		fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString(": ")
		b.WriteString(d.Detail)
	}
	return b.String()
}

// LoadTemplates reads and validates every dir/*.nomad.hcl and the operator
// var-file varsFile ("" = none). It checks, with hcl/v2 and without Nomad: the
// syntax; exactly one job block; the variables client_id, neo4j_database and
// kafka_brokers are declared; the job's `id` attribute exists, references
// var.client_id and evaluates to a different id for different clients; no two
// templates name the same job; every other variable has a default or a value in
// the var-file; the var-file assigns only variables every template declares
// (never the control-plane ones), with values of the declared type. All problems
// are reported together as a *DiagnosticsError.
func LoadTemplates(dir, varsFile string) (*TemplateSet, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+TemplateExt))
	if err != nil {
		return nil, fmt.Errorf("listing templates in %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("loading templates: no *%s file in %s", TemplateExt, dir)
	}
	slices.Sort(paths)
	files := make([]sourceFile, 0, len(paths))
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("loading templates: %w", err)
		}
		files = append(files, sourceFile{path: p, src: src})
	}
	var varsSrc []byte
	if varsFile != "" {
		if varsSrc, err = os.ReadFile(varsFile); err != nil {
			return nil, fmt.Errorf("loading operator var-file: %w", err)
		}
	}
	set, err := loadSources(files, varsFile, varsSrc)
	if err != nil {
		return nil, fmt.Errorf("validating templates in %s: %w", dir, err)
	}
	return set, nil
}

type sourceFile struct {
	path string
	src  []byte
}

type varDecl struct {
	typ cty.Type  // cty.DynamicPseudoType when the block has no type
	def cty.Value // cty.NilVal when the block has no default
	rng hcl.Range
	// validations are the variable's validation blocks, checked by Job.
	validations []*hclsyntax.Block
}

// parsedTemplate is what Render needs of a validated template.
type parsedTemplate struct {
	vars   map[string]*varDecl
	idExpr hcl.Expression
	// job is the job block, evaluated by Job; locals are the locals blocks.
	job    *hclsyntax.Block
	locals []*hclsyntax.Block
	// base holds the non-client variables' values: defaults overridden by the
	// operator var-file, converted to the declared types.
	base map[string]cty.Value
}

// Client ids used to check that a template's job id depends on the client.
const (
	probeClientA = "kgplane-probe-a"
	probeClientB = "kgplane-probe-b"
)

func loadSources(files []sourceFile, varsFile string, varsSrc []byte) (*TemplateSet, error) {
	var diags hcl.Diagnostics
	parser := hclparse.NewParser()

	// The operator var-file: attributes only, constant values.
	operator := map[string]cty.Value{}
	operatorAttrs := hcl.Attributes{}
	if varsFile != "" {
		f, d := parser.ParseHCL(varsSrc, varsFile)
		diags = append(diags, d...)
		if !d.HasErrors() {
			attrs, d := f.Body.JustAttributes()
			diags = append(diags, d...)
			for _, name := range slices.Sorted(maps.Keys(attrs)) {
				a := attrs[name]
				if isClientVar(name) {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  fmt.Sprintf("variable %q is set by the control plane", name),
						Detail:   "remove it from the operator var-file; the control plane supplies it for each client",
						Subject:  a.NameRange.Ptr(),
					})
					continue
				}
				v, d := a.Expr.Value(nil)
				diags = append(diags, d...)
				if !d.HasErrors() {
					operator[name] = v
					operatorAttrs[name] = a
				}
			}
		}
	}

	set := &TemplateSet{VarsFile: varsFile, VarsSource: varsSrc}
	jobOwner := map[string]string{} // probe job id -> template path
	for _, f := range files {
		p, d := parseTemplate(parser, f)
		diags = append(diags, d...)
		if p == nil {
			continue
		}
		d = p.bindOperatorVars(f.path, operator, operatorAttrs)
		diags = append(diags, d...)
		if !d.HasErrors() && p.idExpr != nil {
			// The id is evaluated the way Nomad evaluates it (its functions,
			// the declared types) for two clients, and must contain each one's
			// id; Render checks the same for every real client, so a
			// conditional that singles out these names gains nothing.
			idA, d := p.checkedJobID(probeVars(probeClientA))
			if !d.HasErrors() {
				var dB hcl.Diagnostics
				_, dB = p.checkedJobID(probeVars(probeClientB))
				d = append(d, dB...)
			}
			diags = append(diags, d...)
			if !d.HasErrors() {
				if other, dup := jobOwner[idA]; dup {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "job id used by two templates",
						Detail:   fmt.Sprintf("%s names the same job (%q for one client)", other, idA),
						Subject:  p.idExpr.Range().Ptr(),
					})
				}
				jobOwner[idA] = f.path
			}
		}
		set.Templates = append(set.Templates, Template{
			Name:   strings.TrimSuffix(filepath.Base(f.path), TemplateExt),
			Path:   f.path,
			Source: f.src,
			SHA:    templateSHA(f.src, varsSrc),
			parsed: p,
		})
	}
	if diags.HasErrors() {
		return nil, &DiagnosticsError{Diagnostics: diags}
	}
	return set, nil
}

func templateSHA(src, varsSrc []byte) string {
	h := sha256.New()
	h.Write(src)
	h.Write([]byte{0}) // a separator, so moving bytes between the two files changes the sum
	h.Write(varsSrc)
	return hex.EncodeToString(h.Sum(nil))
}

// parseTemplate checks one template's structure. It returns nil when the file
// cannot be parsed at all.
func parseTemplate(parser *hclparse.Parser, f sourceFile) (*parsedTemplate, hcl.Diagnostics) {
	file, diags := parser.ParseHCL(f.src, f.path)
	if diags.HasErrors() {
		return nil, diags
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok { // ParseHCL always yields native syntax; guard anyway rather than panic
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "not native HCL syntax", Subject: &hcl.Range{Filename: f.path, Start: hcl.InitialPos, End: hcl.InitialPos}}}
	}
	p := &parsedTemplate{vars: map[string]*varDecl{}}
	fileStart := &hcl.Range{Filename: f.path, Start: hcl.InitialPos, End: hcl.InitialPos}
	var jobs []*hclsyntax.Block
	declare := func(name string, d *varDecl) {
		if prev, dup := p.vars[name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("variable %q declared twice", name),
				Detail:   fmt.Sprintf("first declared at %s", prev.rng),
				Subject:  d.rng.Ptr(),
			})
			return
		}
		p.vars[name] = d
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "job":
			jobs = append(jobs, b)
		case "locals":
			p.locals = append(p.locals, b)
		case "variable":
			if len(b.Labels) != 1 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "a variable block needs exactly one label, its name", Subject: b.DefRange().Ptr()})
				continue
			}
			d, dd := parseVariableBlock(b)
			diags = append(diags, dd...)
			if d != nil {
				declare(b.Labels[0], d)
			}
		case "variables": // the short form: variables { name = default }
			for _, name := range slices.Sorted(maps.Keys(b.Body.Attributes)) {
				a := b.Body.Attributes[name]
				v, dd := a.Expr.Value(nil)
				diags = append(diags, dd...)
				if !dd.HasErrors() {
					declare(name, &varDecl{typ: cty.DynamicPseudoType, def: v, rng: a.NameRange})
				}
			}
		}
	}

	subject := fileStart
	switch len(jobs) {
	case 0:
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "no job block", Detail: `a template must contain one job "<name>" { id = "...${var.client_id}" ... } block`, Subject: fileStart})
	case 1:
	default:
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "more than one job block", Detail: "a template describes exactly one job", Subject: jobs[1].DefRange().Ptr()})
	}
	if len(jobs) > 0 {
		job := jobs[0]
		p.job = job
		subject = job.DefRange().Ptr()
		if id, ok := job.Body.Attributes["id"]; !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  `job block has no "id" attribute`,
				Detail:   `name the job per client, e.g. id = "kg-event-normalizer-${var.client_id}" (block labels cannot be interpolated)`,
				Subject:  job.DefRange().Ptr(),
			})
		} else if !referencesVar(id.Expr, VarClientID) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "job id does not reference var.client_id",
				Detail:   `every client needs its own job, e.g. id = "kg-event-normalizer-${var.client_id}"`,
				Subject:  id.Expr.Range().Ptr(),
			})
		} else {
			p.idExpr = id.Expr
		}
	}
	for _, name := range clientVarNames() {
		if _, ok := p.vars[name]; !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("variable %q is not declared", name),
				Detail:   fmt.Sprintf(`the control plane supplies it; add variable %q { type = string }`, name),
				Subject:  subject,
			})
		}
	}
	return p, diags
}

// variableBlockSchema is what Nomad accepts in a variable block; anything else
// would be refused by Nomad's parser, so it is refused here first.
func variableBlockSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "description"}, {Name: "default"}, {Name: "type"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
	}
}

func parseVariableBlock(b *hclsyntax.Block) (*varDecl, hcl.Diagnostics) {
	_, diags := b.Body.Content(variableBlockSchema())
	if diags.HasErrors() {
		return nil, diags
	}
	d := &varDecl{typ: cty.DynamicPseudoType, rng: b.DefRange()}
	for _, vb := range b.Body.Blocks {
		if vb.Type == "validation" {
			d.validations = append(d.validations, vb)
		}
	}
	if a, ok := b.Body.Attributes["type"]; ok {
		t, _, dd := typeexpr.TypeConstraintWithDefaults(a.Expr)
		diags = append(diags, dd...)
		if dd.HasErrors() {
			return nil, diags
		}
		d.typ = t
	}
	if a, ok := b.Body.Attributes["default"]; ok {
		v, dd := a.Expr.Value(nil)
		diags = append(diags, dd...)
		if dd.HasErrors() {
			return nil, diags
		}
		cv, err := convert.Convert(v, d.typ)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("default of variable %q does not match its type", b.Labels[0]),
				Detail:   err.Error(),
				Subject:  a.Expr.Range().Ptr(),
			})
			return nil, diags
		}
		d.def = cv
	}
	return d, diags
}

// referencesVar reports whether expr refers to var.<name>.
func referencesVar(expr hcl.Expression, name string) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "var" || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == name {
			return true
		}
		if ix, ok := tr[1].(hcl.TraverseIndex); ok && ix.Key.Type() == cty.String && ix.Key.IsKnown() && ix.Key.AsString() == name {
			return true
		}
	}
	return false
}

// bindOperatorVars checks the operator values against this template's
// declarations and records the non-client variables' values.
func (p *parsedTemplate) bindOperatorVars(path string, operator map[string]cty.Value, attrs hcl.Attributes) hcl.Diagnostics {
	var diags hcl.Diagnostics
	p.base = map[string]cty.Value{}
	for _, name := range slices.Sorted(maps.Keys(operator)) {
		a := attrs[name]
		decl, ok := p.vars[name]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("variable %q is not declared in %s", name, path),
				Detail:   "the operator var-file is sent with every template, so each template must declare every variable it sets",
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		v, err := convert.Convert(operator[name], decl.typ)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("value of variable %q does not match its type in %s", name, path),
				Detail:   err.Error(),
				Subject:  a.Expr.Range().Ptr(),
			})
			continue
		}
		p.base[name] = v
	}
	for _, name := range slices.Sorted(maps.Keys(p.vars)) {
		if isClientVar(name) {
			continue
		}
		if _, set := p.base[name]; set {
			continue
		}
		decl := p.vars[name]
		if decl.def == cty.NilVal {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("variable %q has no value", name),
				Detail:   "give it a default or set it in the operator var-file",
				Subject:  decl.rng.Ptr(),
			})
			continue
		}
		p.base[name] = decl.def
	}
	return diags
}

func probeVars(id string) map[string]string {
	return map[string]string{VarClientID: id, VarNeo4jDatabase: id, VarKafkaBrokers: "127.0.0.1:9092"}
}

// checkedJobID evaluates the job id for a client and checks that it names the
// client: a job id without the client id would be shared by clients (each
// would overwrite the other's job), or be one a conditional picks for some.
func (p *parsedTemplate) checkedJobID(client map[string]string) (string, hcl.Diagnostics) {
	id, diags := p.jobID(client)
	if diags.HasErrors() {
		return "", diags
	}
	if !strings.Contains(id, client[VarClientID]) {
		return "", hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "job id does not contain the client id",
			Detail:   fmt.Sprintf("for client %q the id evaluates to %q; every client needs its own job, e.g. id = \"kg-event-normalizer-${var.client_id}\"", client[VarClientID], id),
			Subject:  p.idExpr.Range().Ptr(),
		}}
	}
	return id, nil
}

// varValues is every variable's value for the given client variables: the
// operator values and defaults (base) with the client's strings converted to
// their declared types.
func (p *parsedTemplate) varValues(client map[string]string) (map[string]cty.Value, hcl.Diagnostics) {
	vals := maps.Clone(p.base)
	for name, s := range client {
		decl, ok := p.vars[name]
		if !ok {
			continue
		}
		v, err := convert.Convert(cty.StringVal(s), decl.typ)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("variable %q must accept a string", name), Detail: err.Error(), Subject: decl.rng.Ptr()}}
		}
		vals[name] = v
	}
	return vals, nil
}

// jobID evaluates the template's job id for the given client variables, with
// Nomad's HCL functions (format, lower, regex_replace, ...).
func (p *parsedTemplate) jobID(client map[string]string) (string, hcl.Diagnostics) {
	vals, diags := p.varValues(client)
	if diags.HasErrors() {
		return "", diags
	}
	ctx, diags := p.evalContext(vals)
	if diags.HasErrors() {
		return "", diags
	}
	v, diags := p.idExpr.Value(ctx)
	if diags.HasErrors() {
		return "", diags
	}
	if v.IsNull() || !v.IsWhollyKnown() {
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "job id evaluates to null", Subject: p.idExpr.Range().Ptr()}}
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "job id is not a string", Detail: err.Error(), Subject: p.idExpr.Range().Ptr()}}
	}
	id := s.AsString()
	if id == "" || strings.ContainsAny(id, " \t\r\n\x00/") {
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "job id is not usable", Detail: fmt.Sprintf("%q is empty or contains whitespace, a slash or a NUL", id), Subject: p.idExpr.Range().Ptr()}}
	}
	return id, nil
}

// Render renders template t of this set for one client. The client id is
// validated again here (the caller validated it already): an invalid id must
// never reach a jobspec.
func (s *TemplateSet) Render(t Template, v ClientVars) (Rendered, error) {
	if err := clientid.Validate(v.ClientID); err != nil {
		return Rendered{}, fmt.Errorf("rendering template %s: %w", t.Name, err)
	}
	if v.Neo4jDatabase == "" || v.KafkaBrokers == "" {
		return Rendered{}, fmt.Errorf("rendering template %s for client %s: neo4j_database and kafka_brokers must be set", t.Name, v.ClientID)
	}
	if t.parsed == nil {
		return Rendered{}, fmt.Errorf("rendering template %s: it was not loaded by LoadTemplates", t.Name)
	}
	client := v.byName()
	id, diags := t.parsed.checkedJobID(client)
	if diags.HasErrors() {
		return Rendered{}, fmt.Errorf("rendering template %s for client %s: %w", t.Name, v.ClientID, &DiagnosticsError{Diagnostics: diags})
	}

	// The client's variables are appended to the operator var-file as HCL
	// attributes; hclwrite quotes and escapes them (including "${"), and
	// LoadTemplates guarantees the var-file does not set them too, which HCL
	// would reject as a duplicate attribute.
	f := hclwrite.NewEmptyFile()
	for _, name := range clientVarNames() {
		f.Body().SetAttributeValue(name, cty.StringVal(client[name]))
	}
	var b bytes.Buffer
	b.Write(s.VarsSource)
	if n := len(s.VarsSource); n > 0 && s.VarsSource[n-1] != '\n' {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "\n# set by kgplane for client %s\n", v.ClientID)
	b.Write(f.Bytes())

	return Rendered{
		Template:          t,
		ClientID:          v.ClientID,
		JobID:             id,
		HCL:               string(t.Source),
		Variables:         b.String(),
		OperatorVariables: string(s.VarsSource),
		VariableMap:       client,
	}, nil
}
