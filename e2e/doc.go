// Package e2e holds the end-to-end tests of the whole pipeline, and no code
// of its own: the real binaries (kg-control-plane, kg-worker, kg-agent)
// against the real Kafka and Neo4j, with the workers run by the embedded
// backend and, when a nomad binary is on PATH, by a real `nomad agent -dev`
// (raw_exec tasks, and docker tasks when dockerd answers). They live here, not
// beside one binary, because they test how the binaries work together.
package e2e
