# Test template for the real-agent tests: the shape of a kgplane template with a
# harmless long-running raw_exec task instead of kg-worker (which needs Kafka).

variable "client_id" {
  type = string
}

variable "neo4j_database" {
  type = string
}

variable "kafka_brokers" {
  type = string
}

job "kg-e2e-sleeper" {
  id          = "kg-e2e-sleeper-${var.client_id}"
  type        = "service"
  datacenters = ["*"]

  group "worker" {
    count = 1

    restart {
      attempts = 1
      interval = "1m"
      delay    = "1s"
      mode     = "fail"
    }

    update {
      max_parallel     = 1
      health_check     = "task_states"
      min_healthy_time = "1s"
      healthy_deadline = "1m"
      auto_revert      = false
    }

    task "sleep" {
      driver = "raw_exec"

      config {
        command = "/bin/sleep"
        args    = ["300"]
      }

      env {
        CLIENT_ID      = var.client_id
        NEO4J_DATABASE = var.neo4j_database
        KAFKA_BROKERS  = var.kafka_brokers
      }

      kill_timeout = "1s"

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
