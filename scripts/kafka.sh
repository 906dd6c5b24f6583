#!/usr/bin/env bash
# Apache Kafka (KRaft, single node) for development and tests, from Maven Central.
#
#   scripts/kafka.sh start    download on first use, format, start, wait until it answers
#   scripts/kafka.sh stop     stop it (data stays until 'clean')
#   scripts/kafka.sh status   exit 0 when it answers
#   scripts/kafka.sh clean    stop and delete its data
#   scripts/kafka.sh tool CLASS ARGS...   run a Kafka CLI class, e.g.
#        scripts/kafka.sh tool consumer-groups --describe --group event-normalizer-af-9
#        scripts/kafka.sh tool topics --list
#
# Settings: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (1g),
# KG_CACHE_DIR, KG_RUN_DIR. Bound to 127.0.0.1 only.
# Optional authenticated listeners (off unless their port is set):
#   KAFKA_SASL_PORT   a SASL_PLAINTEXT listener: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#   KAFKA_TLS_PORT    a SASL_SSL listener (same mechanisms) with a certificate from a
#                     self-signed CA made by keytool; $dir/tls/ca.pem is the CA to trust,
#                     client.pem/client-key.pem a client certificate (needs openssl)
#   KAFKA_SASL_USERS  user:password[,user:password...] (default kgplane:kgplane-secret)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_HEAP=${KAFKA_HEAP:-1g}
home=$KG_CACHE_DIR/kafka
dir=$KG_RUN_DIR/kafka-$KAFKA_PORT
pidfile=$dir/kafka.pid
logfile=$dir/kafka.out
cp_="$home/lib/*"
KAFKA_SASL_PORT=${KAFKA_SASL_PORT:-}
KAFKA_TLS_PORT=${KAFKA_TLS_PORT:-}
KAFKA_SASL_USERS=${KAFKA_SASL_USERS:-kgplane:kgplane-secret}
tlsdir=$dir/tls
tlspass=kgplane-test-store

# sasl_config NAME: the SASL settings of listener NAME (lower case).
sasl_config() {
  local l=$1 plain="" u
  for u in ${KAFKA_SASL_USERS//,/ }; do plain+=" user_${u%%:*}=\"${u#*:}\""; done
  cat <<CONF
listener.name.$l.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.$l.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain;
listener.name.$l.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.$l.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
CONF
}

# make_tls: a CA and a broker certificate for 127.0.0.1/localhost, made by the
# JDK's keytool; a client certificate in PEM too when openssl is there.
make_tls() {
  [ -f "$tlsdir/broker.p12" ] && return 0
  command -v keytool >/dev/null 2>&1 || die "KAFKA_TLS_PORT needs keytool (it comes with the JDK)"
  mkdir -p "$tlsdir"
  local kt="keytool -storepass $tlspass -keypass $tlspass -storetype PKCS12"
  $kt -genkeypair -alias ca -keyalg RSA -keysize 2048 -dname "CN=kgplane test CA" -ext bc:c -validity 3650 -keystore "$tlsdir/ca.p12" 2>/dev/null
  $kt -exportcert -rfc -alias ca -keystore "$tlsdir/ca.p12" -file "$tlsdir/ca.pem"
  local who
  for who in broker client; do
    $kt -genkeypair -alias "$who" -keyalg RSA -keysize 2048 -dname "CN=kgplane test $who" -validity 3650 -keystore "$tlsdir/$who.p12" 2>/dev/null
    $kt -certreq -alias "$who" -keystore "$tlsdir/$who.p12" -file "$tlsdir/$who.csr"
    $kt -gencert -alias ca -keystore "$tlsdir/ca.p12" -infile "$tlsdir/$who.csr" -outfile "$tlsdir/$who.crt" -rfc \
      -ext "SAN=IP:127.0.0.1,DNS:localhost" -validity 3650
    $kt -importcert -noprompt -alias ca -keystore "$tlsdir/$who.p12" -file "$tlsdir/ca.pem"
    $kt -importcert -noprompt -alias "$who" -keystore "$tlsdir/$who.p12" -file "$tlsdir/$who.crt"
  done
  $kt -importcert -noprompt -alias ca -keystore "$tlsdir/truststore.p12" -file "$tlsdir/ca.pem"
  if command -v openssl >/dev/null 2>&1; then
    cp "$tlsdir/client.crt" "$tlsdir/client.pem"
    openssl pkcs12 -in "$tlsdir/client.p12" -passin "pass:$tlspass" -nocerts -nodes 2>/dev/null \
      | openssl pkey -out "$tlsdir/client-key.pem"
  fi
}

write_config() {
  mkdir -p "$dir/data"
  local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT" protomap="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [ -n "$KAFKA_SASL_PORT" ]; then
    listeners+=",SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT"; protomap+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  if [ -n "$KAFKA_TLS_PORT" ]; then
    make_tls
    listeners+=",SASL_SSL://127.0.0.1:$KAFKA_TLS_PORT"; protomap+=",SASL_SSL:SASL_SSL"
  fi
  cat > "$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protomap
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.backoff.ms=1000
CONF
  if [ -n "$KAFKA_SASL_PORT" ]; then sasl_config sasl_plaintext >> "$dir/server.properties"; fi
  if [ -n "$KAFKA_TLS_PORT" ]; then
    sasl_config sasl_ssl >> "$dir/server.properties"
    cat >> "$dir/server.properties" <<CONF
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$tlsdir/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=$tlspass
listener.name.sasl_ssl.ssl.key.password=$tlspass
listener.name.sasl_ssl.ssl.truststore.type=PKCS12
listener.name.sasl_ssl.ssl.truststore.location=$tlsdir/truststore.p12
listener.name.sasl_ssl.ssl.truststore.password=$tlspass
listener.name.sasl_ssl.ssl.client.auth=requested
CONF
  fi
  cat > "$dir/log4j2.properties" <<CONF
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$dir/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.org.name=org.apache.kafka
logger.org.level=WARN
CONF
}

ready() { port_open "$KAFKA_PORT"; }

case "${1:-}" in
  start)
    need_java
    if pid_alive "$pidfile" && ready; then log "already running on 127.0.0.1:$KAFKA_PORT"; exit 0; fi
    if port_open "$KAFKA_PORT"; then
      die "127.0.0.1:$KAFKA_PORT is taken by another process; set KAFKA_PORT (and KAFKA_BROKERS for kgplane) to a free port"
    fi
    fetch_jars kafka "$KG_ROOT/scripts/maven/kafka"
    write_config
    if [ ! -f "$dir/data/meta.properties" ]; then
      id=$("$JAVA" -cp "$cp_" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
      scram=()
      if [ -n "$KAFKA_SASL_PORT$KAFKA_TLS_PORT" ]; then
        # SCRAM credentials live in the KRaft metadata log: written at format time.
        for u in ${KAFKA_SASL_USERS//,/ }; do
          for m in SCRAM-SHA-256 SCRAM-SHA-512; do scram+=(--add-scram "$m=[name=${u%%:*},password=${u#*:}]"); done
        done
      fi
      "$JAVA" -cp "$cp_" -Dlog4j2.configurationFile="$dir/log4j2.properties" kafka.tools.StorageTool format \
        -t "$id" -c "$dir/server.properties" --standalone "${scram[@]}" >"$dir/format.out" 2>&1 \
        || { cat "$dir/format.out" >&2; die "formatting the KRaft log dir failed"; }
    fi
    log "starting Kafka on 127.0.0.1:$KAFKA_PORT (data: $dir)"
    nohup "$JAVA" -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$dir/log4j2.properties" \
      -cp "$cp_" kafka.Kafka "$dir/server.properties" >"$logfile" 2>&1 &
    echo $! > "$pidfile"
    wait_for "Kafka" 120 "$pidfile" "$dir/server.log" ready
    log "Kafka is ready: KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
    ;;
  stop) stop_pid Kafka "$pidfile" ;;
  status)
    if ready; then echo "kafka: up on 127.0.0.1:$KAFKA_PORT"; else echo "kafka: down (127.0.0.1:$KAFKA_PORT)"; exit 1; fi ;;
  clean) stop_pid Kafka "$pidfile"; rm -rf "$dir"; log "removed $dir" ;;
  tool)
    shift; [ $# -ge 1 ] || die "usage: scripts/kafka.sh tool NAME ARGS... (NAME: topics, consumer-groups, console-consumer, ...)"
    need_java; fetch_jars kafka "$KG_ROOT/scripts/maven/kafka"
    name=$1; shift
    case "$name" in
      topics) cls=org.apache.kafka.tools.TopicCommand ;;
      consumer-groups) cls=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
      console-consumer) cls=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
      console-producer) cls=org.apache.kafka.tools.ConsoleProducer ;;
      get-offsets) cls=org.apache.kafka.tools.GetOffsetShell ;;
      *) cls=$name ;;
    esac
    exec "$JAVA" -Xmx256m -Dlog4j2.level=WARN -cp "$cp_" "$cls" --bootstrap-server "127.0.0.1:$KAFKA_PORT" "$@" ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
