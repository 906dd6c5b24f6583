package kafkaio

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
)

// A dead letter never carries more than MaxDeadLetterValue bytes of value, so
// it can always be produced; a cut one says how long the original was and
// its SHA-256. A small one is the record's value, untouched.
func TestDeadLetterValueIsBounded(t *testing.T) {
	big := bytes.Repeat([]byte("z"), 2<<20)
	msg := DeadLetterMessage(TopicDLQRaw, Record{Topic: "raw.k8s.logs", Key: []byte("af-9::log::u"), Value: big}, "log-normalizer", errors.New("too big"))
	v, _ := msg.Value.Encode()
	h := map[string]string{}
	for _, x := range msg.Headers {
		h[string(x.Key)] = string(x.Value)
	}
	sum := sha256.Sum256(big)
	if len(v) != MaxDeadLetterValue || h[HeaderValueTruncated] != strconv.Itoa(len(big)) || h[HeaderValueSHA256] != hex.EncodeToString(sum[:]) {
		t.Fatalf("value %d bytes, headers %v", len(v), h)
	}
	small := DeadLetterMessage(TopicDLQRaw, Record{Topic: "raw.k8s.logs", Key: []byte("af-9::log::u"), Value: []byte("{")}, "log-normalizer", errors.New("bad"))
	if v, _ := small.Value.Encode(); string(v) != "{" {
		t.Fatalf("small value changed to %q", v)
	}
	for _, x := range small.Headers {
		if k := string(x.Key); k == HeaderValueTruncated || k == HeaderValueSHA256 {
			t.Fatalf("a small dead letter carries %s", k)
		}
	}
}
