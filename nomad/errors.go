package nomad

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/hashicorp/nomad/api"
)

// Error kinds returned by ErrorKind, for metric labels.
const (
	KindUnreachable = "unreachable"  // no connection to Nomad (refused, reset, dropped, DNS)
	KindTimeout     = "timeout"      // deadline exceeded or a network timeout
	KindClientError = "client_error" // Nomad answered 4xx (bad request, ACL, ...)
	KindServerError = "server_error" // Nomad answered 5xx
	KindParse       = "parse"        // a template Nomad or hcl/v2 rejected
	KindCanceled    = "canceled"     // the caller's context was canceled
	KindOther       = "other"
)

// parseError marks a failure of the /v1/jobs/parse step, so that a template
// Nomad rejects (400) is told apart from other client errors.
type parseError struct{ err error }

func (e *parseError) Error() string { return e.err.Error() }
func (e *parseError) Unwrap() error { return e.err }

// statusCode is the HTTP status of a Nomad error response, or 0.
func statusCode(err error) int {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) && ue.HasStatusCode() {
		return ue.StatusCode()
	}
	var uep *api.UnexpectedResponseError
	if errors.As(err, &uep) && uep != nil && uep.HasStatusCode() {
		return uep.StatusCode()
	}
	return 0
}

// ErrorKind classifies an error of this package for metrics: "unreachable",
// "timeout", "client_error" (4xx), "server_error" (5xx), "parse" (a template
// rejected locally or by Nomad's parser), "canceled" or "other". It returns ""
// for nil.
func ErrorKind(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) {
		return KindCanceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	var diags *DiagnosticsError
	if errors.As(err, &diags) {
		return KindParse
	}
	if code := statusCode(err); code != 0 {
		var pe *parseError
		switch {
		case errors.As(err, &pe) && (code == http.StatusBadRequest || code == http.StatusUnprocessableEntity):
			return KindParse
		case code >= 400 && code < 500:
			return KindClientError
		case code >= 500:
			return KindServerError
		}
		return KindOther
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeout
	}
	var oe *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &dnsErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) { // connection dropped mid-request
		return KindUnreachable
	}
	return KindOther
}

// isEnforceIndexError reports whether Nomad refused a register because its
// check-and-set index did not match the job's (nomad/api names the prefix).
func isEnforceIndexError(err error) bool {
	return err != nil && strings.Contains(err.Error(), api.RegisterEnforceIndexErrPrefix)
}
