package lognorm

import (
	"encoding/json"

	"github.com/kgrca/kgplane/workers/eventnorm/jsonscan"
)

// Decoding with jsonscan instead of encoding/json: see that package for
// why. FuzzScanMatchesStdlib checks both decode records alike.

// decodeLog decodes a shipper record; raw must be one JSON object.
func decodeLog(raw []byte, in *rawLog) error {
	s := jsonscan.New(raw)
	return s.Document("log record", func(key []byte) error {
		switch string(key) {
		case "message":
			return s.OptString("message", &in.Message)
		case "log":
			return s.OptString("log", &in.Log)
		case "msg":
			return s.OptString("msg", &in.Msg)
		case "timestamp":
			return s.Raw((*[]byte)(&in.Timestamp))
		case "time":
			return s.Raw((*[]byte)(&in.Time))
		case "@timestamp":
			return s.Raw((*[]byte)(&in.AtTimestamp))
		case "date":
			return s.Raw((*[]byte)(&in.Date))
		case "level":
			return s.Raw((*[]byte)(&in.Level))
		case "severity":
			return s.Raw((*[]byte)(&in.Severity))
		case "lvl":
			return s.Raw((*[]byte)(&in.Lvl))
		case "kubernetes":
			return s.Object("kubernetes", func(k []byte) error {
				m := in.Kubernetes
				switch string(k) {
				case "pod_name":
					return s.String("kubernetes.pod_name", &m.PodName)
				case "pod_namespace":
					return s.String("kubernetes.pod_namespace", &m.PodNamespace)
				case "namespace_name":
					return s.String("kubernetes.namespace_name", &m.NamespaceName)
				case "pod_uid":
					return s.String("kubernetes.pod_uid", &m.PodUID)
				case "pod_id":
					return s.String("kubernetes.pod_id", &m.PodID)
				case "container_name":
					return s.String("kubernetes.container_name", &m.ContainerName)
				case "pod_node_name":
					return s.String("kubernetes.pod_node_name", &m.PodNodeName)
				case "host":
					return s.String("kubernetes.host", &m.Host)
				}
				return s.Skip()
			}, func(isNull bool) {
				if isNull {
					in.Kubernetes = nil
				} else if in.Kubernetes == nil {
					in.Kubernetes = &k8sMeta{}
				}
			})
		}
		return s.Skip()
	})
}

// decodeAppLog decodes a JSON-encoded application log line. Keys match
// case-insensitively (as encoding/json would): loggers disagree on
// "level" vs "Level".
func decodeAppLog(line []byte, a *appLog) error {
	s := jsonscan.New(line)
	var buf [16]byte
	return s.Document("message", func(key []byte) error {
		var dst *json.RawMessage
		switch string(jsonscan.LowerKey(key, buf[:0])) {
		case "level":
			dst = &a.Level
		case "severity":
			dst = &a.Severity
		case "lvl":
			dst = &a.Lvl
		case "levelname":
			dst = &a.LevelName
		case "log.level":
			dst = &a.ECSLevel
		case "msg":
			dst = &a.Msg
		case "message":
			dst = &a.Message
		case "error":
			dst = &a.Error
		case "err":
			dst = &a.Err
		case "stack_trace":
			dst = &a.StackTrace
		case "stacktrace":
			dst = &a.Stacktrace
		case "stack":
			dst = &a.Stack
		case "exc_info":
			dst = &a.ExcInfo
		default:
			return s.Skip()
		}
		return s.Raw((*[]byte)(dst))
	})
}
