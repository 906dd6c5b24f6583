package kafkaio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/testinfra"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSecurityFromEnvNamesTheWrongSetting(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o644)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" = no error
	}{
		{"nothing set is plaintext", nil, ""},
		{"plain", map[string]string{"KAFKA_SASL_MECHANISM": "plain", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, ""},
		{"scram-512", map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, ""},
		{"unknown mechanism", map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM"},
		{"no user", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_USERNAME"},
		{"no password", map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_PASSWORD"},
		{"user without mechanism", map[string]string{"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_MECHANISM"},
		{"tls not a bool", map[string]string{"KAFKA_TLS": "yes please"}, "KAFKA_TLS="},
		{"tls on, system roots", map[string]string{"KAFKA_TLS": "true"}, ""},
		{"ca missing", map[string]string{"KAFKA_TLS_CA_FILE": filepath.Join(dir, "none.pem")}, "KAFKA_TLS_CA_FILE"},
		{"ca not pem", map[string]string{"KAFKA_TLS_CA_FILE": notPEM}, "no PEM certificate"},
		{"cert without key", map[string]string{"KAFKA_TLS_CERT_FILE": notPEM}, "KAFKA_TLS_KEY_FILE go together"},
		{"tls off with files", map[string]string{"KAFKA_TLS": "false", "KAFKA_TLS_CA_FILE": notPEM}, "KAFKA_TLS=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SecurityFromEnv(envMap(tc.env))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestNewSaramaConfigCarriesTheSecurity(t *testing.T) {
	sec, err := SecurityFromEnv(envMap(map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p", "KAFKA_TLS": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	sc := NewSaramaConfig(sec, "kg-test")
	if !sc.Net.SASL.Enable || sc.Net.SASL.Mechanism != sarama.SASLTypeSCRAMSHA256 || sc.Net.SASL.SCRAMClientGeneratorFunc == nil || !sc.Net.TLS.Enable {
		t.Fatalf("config lacks the security: %+v", sc.Net)
	}
	if sc.ClientID != "kg-test" || sc.Version != KafkaVersion() {
		t.Fatalf("client id %q version %v", sc.ClientID, sc.Version)
	}
	if err := sc.Validate(); err != nil {
		t.Fatalf("sarama refuses the config: %v", err)
	}
	if s := sec.String(); strings.Contains(s, "p") && strings.Contains(s, "password") {
		t.Fatalf("String leaks the password: %s", s)
	}
}

// The real broker, configured by scripts/kafka.sh with a SASL_PLAINTEXT and a
// SASL_SSL listener: every mechanism authenticates, a wrong password is
// refused, TLS verifies the broker against the test CA and presents a client
// certificate.
func TestSecurityAgainstTheRealBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private Kafka with SASL and TLS listeners")
	}
	k := testinfra.StartSecurePrivateKafka(t)
	connect := func(addr string, env map[string]string) error {
		sec, err := SecurityFromEnv(envMap(env))
		if err != nil {
			return err
		}
		sc := NewSaramaConfig(sec, "kg-security-test")
		sc.Metadata.Retry.Max = 0
		admin, err := sarama.NewClusterAdmin([]string{addr}, sc)
		if err != nil {
			return err
		}
		defer admin.Close()
		_, err = admin.ListTopics()
		return err
	}
	creds := func(mech, pass string) map[string]string {
		return map[string]string{"KAFKA_SASL_MECHANISM": mech, "KAFKA_SASL_USERNAME": k.User, "KAFKA_SASL_PASSWORD": pass}
	}
	for _, mech := range []string{SASLPlain, SASLScramSHA256, SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			if err := connect(k.SASLAddr, creds(mech, k.Password)); err != nil {
				t.Fatalf("%s with the right password: %v", mech, err)
			}
			err := connect(k.SASLAddr, creds(mech, "wrong"))
			if err == nil {
				t.Fatalf("%s with a wrong password was accepted", mech)
			}
			if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) && !strings.Contains(err.Error(), "SASL") && !strings.Contains(err.Error(), "uthentication") {
				t.Logf("wrong password refused with: %v", err)
			}
		})
	}
	t.Run("plaintext client on the SASL listener is refused", func(t *testing.T) {
		if err := connect(k.SASLAddr, nil); err == nil {
			t.Fatal("a client without SASL got through")
		}
	})
	t.Run("TLS with the CA and SCRAM", func(t *testing.T) {
		env := creds(SASLScramSHA512, k.Password)
		env["KAFKA_TLS_CA_FILE"] = filepath.Join(k.TLSDir, "ca.pem")
		if err := connect(k.TLSAddr, env); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("TLS with a client certificate", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(k.TLSDir, "client-key.pem")); err != nil {
			t.Skip("no client key: scripts/kafka.sh needs openssl to write it")
		}
		env := creds(SASLPlain, k.Password)
		env["KAFKA_TLS_CA_FILE"] = filepath.Join(k.TLSDir, "ca.pem")
		env["KAFKA_TLS_CERT_FILE"] = filepath.Join(k.TLSDir, "client.pem")
		env["KAFKA_TLS_KEY_FILE"] = filepath.Join(k.TLSDir, "client-key.pem")
		if err := connect(k.TLSAddr, env); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("TLS without the CA is refused", func(t *testing.T) {
		env := creds(SASLPlain, k.Password)
		env["KAFKA_TLS"] = "true"
		if err := connect(k.TLSAddr, env); err == nil {
			t.Fatal("a broker certificate from an unknown CA was trusted")
		}
	})
}

// A record dead-lettered a second time (replayed from a DLQ) keeps its own
// headers but not the old kg-* ones: exactly one kg-error, the new reason.
func TestDeadLetterDropsIncomingKgHeaders(t *testing.T) {
	rec := Record{Topic: "raw.k8s.events", Partition: 2, Offset: 9, Key: []byte("af-9::event::u1"), Value: []byte("{"),
		Headers: []*sarama.RecordHeader{
			{Key: []byte("traceparent"), Value: []byte("00-abc")},
			{Key: []byte(HeaderError), Value: []byte("old reason")},
			{Key: []byte(HeaderSourceOffset), Value: []byte("1")},
		}}
	msg := DeadLetterMessage(TopicDLQRaw, rec, "event-normalizer", errors.New("new reason"))
	got := map[string][]string{}
	for _, h := range msg.Headers {
		got[string(h.Key)] = append(got[string(h.Key)], string(h.Value))
	}
	if len(got[HeaderError]) != 1 || got[HeaderError][0] != "new reason" {
		t.Errorf("kg-error headers %q, want only the new reason", got[HeaderError])
	}
	if len(got[HeaderSourceOffset]) != 1 || got[HeaderSourceOffset][0] != "9" {
		t.Errorf("kg-source-offset headers %q, want only 9", got[HeaderSourceOffset])
	}
	if len(got["traceparent"]) != 1 {
		t.Errorf("the record's own header was dropped: %v", got)
	}
}
