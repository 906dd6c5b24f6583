package kafkaio

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// Security is how a kgplane binary authenticates to Kafka and encrypts the
// connection. Every binary reads it once with SecurityFromEnv and builds each
// of its sarama configs with NewSaramaConfig, so SASL and TLS are set in one
// place for the control plane, the workers, kgctl and the benchmarks alike.
// The zero value is a plaintext connection without authentication.
type Security struct {
	// SASLMechanism is "" (no SASL), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	SASLMechanism string
	SASLUsername  string
	SASLPassword  string
	// TLS is nil for plaintext.
	TLS *tls.Config
}

// The environment variables SecurityFromEnv reads. The job templates hand
// KAFKA_SASL_* to the workers from Nomad Variables (docs/templates.md).
const (
	EnvSASLMechanism = "KAFKA_SASL_MECHANISM"
	EnvSASLUsername  = "KAFKA_SASL_USERNAME"
	EnvSASLPassword  = "KAFKA_SASL_PASSWORD"
	EnvTLS           = "KAFKA_TLS"
	EnvTLSCAFile     = "KAFKA_TLS_CA_FILE"
	EnvTLSCertFile   = "KAFKA_TLS_CERT_FILE"
	EnvTLSKeyFile    = "KAFKA_TLS_KEY_FILE"
	EnvTLSServerName = "KAFKA_TLS_SERVER_NAME"
)

// SASL mechanisms kgplane speaks.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SecurityFromEnv reads the Kafka security settings:
//
//	KAFKA_SASL_MECHANISM  PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (unset = no SASL)
//	KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD  required with a mechanism
//	KAFKA_TLS             true to encrypt (implied by any KAFKA_TLS_* file)
//	KAFKA_TLS_CA_FILE     PEM CA bundle to verify the brokers (default: system roots)
//	KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE  PEM client certificate and key (mutual TLS)
//	KAFKA_TLS_SERVER_NAME the name to verify in the brokers' certificates (default: the host dialled)
//
// Errors name the setting that is wrong and say what it wants.
func SecurityFromEnv(getenv func(string) string) (Security, error) {
	var s Security
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	switch m := strings.ToUpper(get(EnvSASLMechanism)); m {
	case "":
		if get(EnvSASLUsername) != "" {
			return s, fmt.Errorf("%s is set but %s is not: set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", EnvSASLUsername, EnvSASLMechanism)
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		s.SASLMechanism = m
		s.SASLUsername = get(EnvSASLUsername)
		s.SASLPassword = getenv(EnvSASLPassword) // a password may start or end with a space
		if s.SASLUsername == "" {
			return s, fmt.Errorf("%s=%s needs %s", EnvSASLMechanism, m, EnvSASLUsername)
		}
		if s.SASLPassword == "" {
			return s, fmt.Errorf("%s=%s needs %s", EnvSASLMechanism, m, EnvSASLPassword)
		}
	default:
		return s, fmt.Errorf("%s=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", EnvSASLMechanism, get(EnvSASLMechanism))
	}

	ca, cert, key := get(EnvTLSCAFile), get(EnvTLSCertFile), get(EnvTLSKeyFile)
	on := ca != "" || cert != "" || key != ""
	if v := get(EnvTLS); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("%s=%q: want true or false", EnvTLS, v)
		}
		if !b && on {
			return s, fmt.Errorf("%s=false but %s, %s or %s is set: remove them or set %s=true", EnvTLS, EnvTLSCAFile, EnvTLSCertFile, EnvTLSKeyFile, EnvTLS)
		}
		on = b
	}
	if !on {
		return s, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: get(EnvTLSServerName)}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return s, fmt.Errorf("%s: reading the CA bundle: %w", EnvTLSCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return s, fmt.Errorf("%s=%s: no PEM certificate in it", EnvTLSCAFile, ca)
		}
		tc.RootCAs = pool
	}
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return s, fmt.Errorf("%s and %s: loading the client certificate: %w", EnvTLSCertFile, EnvTLSKeyFile, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	case cert != "" || key != "":
		return s, fmt.Errorf("%s and %s go together: set both for mutual TLS, or neither", EnvTLSCertFile, EnvTLSKeyFile)
	}
	s.TLS = tc
	return s, nil
}

// String describes the settings without the password, for logs.
func (s Security) String() string {
	var parts []string
	if s.SASLMechanism != "" {
		parts = append(parts, "SASL "+s.SASLMechanism+" as "+s.SASLUsername)
	}
	if s.TLS != nil {
		parts = append(parts, "TLS")
	}
	if len(parts) == 0 {
		return "plaintext"
	}
	return strings.Join(parts, ", ")
}

// NewSaramaConfig is the base sarama configuration of every kgplane Kafka
// client: the protocol version, the client id brokers log and quota on, and
// the security settings. Callers add what their role needs (producer acks,
// consumer offsets) to the fresh config it returns.
func NewSaramaConfig(sec Security, clientID string) *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = KafkaVersion()
	if clientID != "" {
		sc.ClientID = clientID
	}
	if sec.TLS != nil {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = sec.TLS.Clone()
	}
	if sec.SASLMechanism != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.User = sec.SASLUsername
		sc.Net.SASL.Password = sec.SASLPassword
		switch sec.SASLMechanism {
		case SASLPlain:
			sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case SASLScramSHA256:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha256.New)} }
		case SASLScramSHA512:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha512.New)} }
		}
	}
	return sc
}

// scramClient adapts xdg-go/scram (the implementation sarama's own examples
// use) to sarama.SCRAMClient.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	cl, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return fmt.Errorf("starting SCRAM for %s: %w", user, err)
	}
	c.conv = cl.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) {
	if c.conv == nil {
		return "", errors.New("SCRAM step before Begin")
	}
	return c.conv.Step(challenge)
}

func (c *scramClient) Done() bool { return c.conv != nil && c.conv.Done() }
