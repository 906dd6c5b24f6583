# kgplane per-client job: the log normalizer of one client.
#
# The control plane renders this template for every live client and submits it
# through PUT /v1/jobs/parse; an operator can run it by hand and get the same job:
#
#   nomad job run -var client_id=af-9 -var neo4j_database=af-9 \
#     -var kafka_brokers=127.0.0.1:9092 \
#     -var-file=jobspecs/vars/dev.vars.hcl jobspecs/log-normalizer.nomad.hcl
#
# See docs/templates.md for the variables, the driver choice, secrets and the
# restart/update policy.

# ---- supplied by the control plane, per client --------------------------------

variable "client_id" {
  type        = string
  description = "Client id (^[a-z][a-z0-9-]{1,61}[a-z0-9]$); names the job, the consumer groups and the Neo4j database."

  # Nomad's HCL2 has no regex(): a full-match regex_replace leaves "" exactly
  # when the id matches.
  validation {
    condition     = strlen(var.client_id) >= 3 && strlen(var.client_id) <= 63 && regex_replace(var.client_id, "^[a-z][a-z0-9-]*[a-z0-9]$", "") == ""
    error_message = "The client_id must be 3-63 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "neo4j_database" {
  type        = string
  description = "Neo4j database of the client (the client id in database isolation)."
}

variable "kafka_brokers" {
  type        = string
  description = "Comma-separated Kafka bootstrap servers."
}

# ---- operator variables (jobspecs/vars/*.vars.hcl) ----------------------------

variable "driver" {
  type        = string
  default     = "docker"
  description = "Task driver: docker (production) or raw_exec (hosts without Docker: dev, CI)."

  validation {
    condition     = contains(["docker", "raw_exec"], var.driver)
    error_message = "The driver must be \"docker\" or \"raw_exec\"."
  }
}

variable "image" {
  type        = string
  default     = "ghcr.io/kgrca/kg-worker:latest"
  description = "kg-worker image (docker driver)."
}

variable "network_mode" {
  type        = string
  default     = ""
  description = "Docker network mode; \"\" = Docker's default (bridge, with the metrics port mapped). \"host\" on a dev host whose dockerd runs without a bridge (jobspecs/vars/dev-docker.vars.hcl)."
}

variable "worker_binary" {
  type        = string
  default     = "/usr/local/bin/kg-worker"
  description = "Absolute path of the kg-worker binary on the client node (raw_exec driver)."
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "cpu" {
  type        = number
  default     = 200
  description = "CPU in MHz."
}

variable "memory" {
  type        = number
  default     = 256
  description = "Memory in MiB."
}

variable "neo4j_uri" {
  type    = string
  default = "bolt://127.0.0.1:7687"
}

variable "neo4j_isolation" {
  type        = string
  default     = "shared"
  description = "shared (Neo4j Community: one database, client id in every key) or database (one database per client: Enterprise, Aura)."

  validation {
    condition     = contains(["shared", "database"], var.neo4j_isolation)
    error_message = "The neo4j_isolation must be \"shared\" or \"database\"."
  }
}

job "kg-log-normalizer" {
  # Block labels cannot be interpolated; the id attribute can, and names the job.
  id          = "kg-log-normalizer-${var.client_id}"
  type        = "service"
  datacenters = var.datacenters

  group "worker" {
    # One consumer per client and role: the worker reads only the client's
    # partition, and a second copy would only wait in the consumer group.
    count = 1

    network {
      port "metrics" {}
    }

    # A crashing worker is restarted in place a few times, then rescheduled with
    # growing delays, forever: a Kafka consumer should never give up for good.
    restart {
      attempts = 3
      interval = "5m"
      delay    = "15s"
      mode     = "delay"
    }

    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "10m"
      unlimited      = true
    }

    # Destructive updates replace the one allocation in place (no canary, so the
    # old consumer is stopped as the new one is placed); the consumer group is
    # the fence against any overlap. No Consul checks: health = task states.
    update {
      max_parallel      = 1
      canary            = 0
      health_check      = "task_states"
      min_healthy_time  = "10s"
      healthy_deadline  = "3m"
      progress_deadline = "10m"
      auto_revert       = true
    }

    task "log-normalizer" {
      driver = var.driver

      dynamic "config" {
        for_each = var.driver == "docker" ? [1] : []
        content {
          image = var.image
          args  = ["log-normalizer"]
          ports = ["metrics"]
          # Left out (null) unless set, so the production job is unchanged.
          network_mode = var.network_mode != "" ? var.network_mode : null
        }
      }

      dynamic "config" {
        for_each = var.driver == "raw_exec" ? [1] : []
        content {
          command = var.worker_binary
          args    = ["log-normalizer"]
        }
      }

      env {
        CLIENT_ID       = var.client_id
        NEO4J_DATABASE  = var.neo4j_database
        KAFKA_BROKERS   = var.kafka_brokers
        NEO4J_URI       = var.neo4j_uri
        NEO4J_ISOLATION = var.neo4j_isolation
        # Runtime interpolation by Nomad, not HCL: the port Nomad allocated.
        METRICS_ADDR = ":${NOMAD_PORT_metrics}"
      }

      # Secrets from Nomad Variables, never literals in a jobspec. The task can
      # read nomad/jobs (shared by every job of the namespace) and
      # nomad/jobs/<job id> (this client's job) without an ACL policy. Each lookup
      # is guarded by nomadVarExists: a bare nomadVar on a missing path blocks the
      # task until the variable appears, and in dev there is none.
      template {
        destination = "secrets/kg.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{- range $path := (printf "nomad/jobs,nomad/jobs/%s" (env "NOMAD_JOB_ID") | split ",") }}
          {{- if nomadVarExists $path }}{{ with nomadVar $path }}
          {{- with .NEO4J_USERNAME }}NEO4J_USERNAME={{ . }}{{ "\n" }}{{ end }}
          {{- with .NEO4J_PASSWORD }}NEO4J_PASSWORD={{ . }}{{ "\n" }}{{ end }}
          {{- with .KAFKA_SASL_MECHANISM }}KAFKA_SASL_MECHANISM={{ . }}{{ "\n" }}{{ end }}
          {{- with .KAFKA_SASL_USERNAME }}KAFKA_SASL_USERNAME={{ . }}{{ "\n" }}{{ end }}
          {{- with .KAFKA_SASL_PASSWORD }}KAFKA_SASL_PASSWORD={{ . }}{{ "\n" }}{{ end }}
          {{- end }}{{ end }}
          {{- end }}
        EOT
      }

      # SIGTERM lets the worker finish its batch and commit its offsets.
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }
  }
}
