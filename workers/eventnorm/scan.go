package eventnorm

import "github.com/kgrca/kgplane/workers/eventnorm/jsonscan"

// Decoding with jsonscan instead of encoding/json: see that package for
// why. FuzzScanMatchesStdlib checks both decode events alike.

// decodeEvent decodes raw into ev; raw must be one JSON object.
func decodeEvent(raw []byte, ev *rawEvent) error {
	s := jsonscan.New(raw)
	return s.Document("event", ev.field(s))
}

// field returns the member decoder of the top-level event object.
func (ev *rawEvent) field(s *jsonscan.Scanner) func(key []byte) error {
	return func(key []byte) error {
		switch string(key) {
		case "metadata":
			return s.Object("metadata", func(k []byte) error {
				switch string(k) {
				case "uid":
					return s.String("metadata.uid", &ev.Metadata.UID)
				case "creationTimestamp":
					return s.String("metadata.creationTimestamp", &ev.Metadata.CreationTimestamp)
				}
				return s.Skip()
			}, nil)
		case "involvedObject":
			return objectRefField(s, "involvedObject", &ev.InvolvedObject)
		case "regarding":
			return objectRefField(s, "regarding", &ev.Regarding)
		case "source":
			return sourceField(s, "source", &ev.Source)
		case "deprecatedSource":
			return sourceField(s, "deprecatedSource", &ev.DeprecatedSource)
		case "series":
			return s.Object("series", func(k []byte) error {
				switch string(k) {
				case "count":
					return s.Int32("series.count", &ev.Series.Count)
				case "lastObservedTime":
					return s.String("series.lastObservedTime", &ev.Series.LastObservedTime)
				}
				return s.Skip()
			}, func(isNull bool) {
				if isNull {
					ev.Series = nil
				} else if ev.Series == nil {
					ev.Series = &series{}
				}
			})
		case "message":
			return s.String("message", &ev.Message)
		case "note":
			return s.String("note", &ev.Note)
		case "reason":
			return s.String("reason", &ev.Reason)
		case "type":
			return s.String("type", &ev.Type)
		case "firstTimestamp":
			return s.String("firstTimestamp", &ev.FirstTimestamp)
		case "lastTimestamp":
			return s.String("lastTimestamp", &ev.LastTimestamp)
		case "deprecatedFirstTimestamp":
			return s.String("deprecatedFirstTimestamp", &ev.DeprecatedFirstTimestamp)
		case "deprecatedLastTimestamp":
			return s.String("deprecatedLastTimestamp", &ev.DeprecatedLastTimestamp)
		case "eventTime":
			return s.String("eventTime", &ev.EventTime)
		case "count":
			return s.Int32("count", &ev.Count)
		case "deprecatedCount":
			return s.Int32("deprecatedCount", &ev.DeprecatedCount)
		case "reportingComponent":
			return s.String("reportingComponent", &ev.ReportingComponent)
		case "reportingController":
			return s.String("reportingController", &ev.ReportingController)
		case "reportingInstance":
			return s.String("reportingInstance", &ev.ReportingInstance)
		}
		return s.Skip()
	}
}

func objectRefField(s *jsonscan.Scanner, name string, dst **objectRef) error {
	return s.Object(name, func(k []byte) error {
		ref := *dst
		switch string(k) {
		case "kind":
			return s.String(name+".kind", &ref.Kind)
		case "namespace":
			return s.String(name+".namespace", &ref.Namespace)
		case "name":
			return s.String(name+".name", &ref.Name)
		case "uid":
			return s.String(name+".uid", &ref.UID)
		}
		return s.Skip()
	}, func(isNull bool) {
		if isNull {
			*dst = nil
		} else if *dst == nil {
			*dst = &objectRef{}
		}
	})
}

func sourceField(s *jsonscan.Scanner, name string, dst **eventSource) error {
	return s.Object(name, func(k []byte) error {
		src := *dst
		switch string(k) {
		case "component":
			return s.String(name+".component", &src.Component)
		case "host":
			return s.String(name+".host", &src.Host)
		}
		return s.Skip()
	}, func(isNull bool) {
		if isNull {
			*dst = nil
		} else if *dst == nil {
			*dst = &eventSource{}
		}
	})
}
