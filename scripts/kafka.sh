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
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_HEAP=${KAFKA_HEAP:-1g}
home=$KG_CACHE_DIR/kafka
dir=$KG_RUN_DIR/kafka-$KAFKA_PORT
pidfile=$dir/kafka.pid
logfile=$dir/kafka.out
cp_="$home/lib/*"

write_config() {
  mkdir -p "$dir/data"
  cat > "$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
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
      "$JAVA" -cp "$cp_" -Dlog4j2.configurationFile="$dir/log4j2.properties" kafka.tools.StorageTool format \
        -t "$id" -c "$dir/server.properties" --standalone >"$dir/format.out" 2>&1 \
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
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
