package simulate

import (
	"fmt"
	"strings"
	"time"
)

// Application log lines in the styles real services write: zap/logfmt Go
// services, Spring Boot, Python logging/gunicorn, pino, nginx, and the
// datastores' own formats. Faults have language-specific wording (a Go
// "dial tcp ...: connect: connection refused", a Java ConnectException with
// its stack trace, a Python traceback, a Node ECONNREFUSED).

type level int

const (
	lvInfo level = iota
	lvWarn
	lvError
	lvFatal
)

// format renders one line of p's application at `at`.
func (s *sim) format(p *pod, at time.Time, lv level, msg string, kv ...string) logLine {
	a := p.app
	variant := int(a.uid[0]) % 2 // an app keeps one logger for its lifetime
	ts := at.UTC()
	switch a.lang {
	case "go":
		lvl := [...]string{"info", "warn", "error", "fatal"}[lv]
		if variant == 0 { // zap JSON
			f := map[string]any{"level": lvl, "ts": float64(ts.UnixMilli()) / 1000, "caller": pick(s.g, []string{"server/http.go:118", "handler/api.go:64", "client/upstream.go:91", "store/db.go:57"}), "msg": msg}
			for i := 0; i+1 < len(kv); i += 2 {
				f[kv[i]] = kv[i+1]
			}
			return logLine{text: string(mustJSON(f)), stderr: true, fields: map[string]any{"level": lvl}}
		}
		var b strings.Builder // logfmt (slog text handler)
		fmt.Fprintf(&b, "time=%s level=%s msg=%q", ts.Format("2006-01-02T15:04:05.000Z"), strings.ToUpper(lvl), msg)
		for i := 0; i+1 < len(kv); i += 2 {
			fmt.Fprintf(&b, " %s=%q", kv[i], kv[i+1])
		}
		return logLine{text: b.String(), stderr: lv >= lvWarn}
	case "java":
		lvl := [...]string{" INFO", " WARN", "ERROR", "ERROR"}[lv]
		logger := pick(s.g, []string{"c.a." + a.name + ".web.ApiController", "o.s.web.servlet.DispatcherServlet", "c.a." + a.name + ".client.UpstreamClient", "c.a." + a.name + ".service.OrderService"})
		thread := pick(s.g, []string{"nio-8080-exec-" + fmt.Sprint(s.g.between(1, 10)), "scheduling-1", "task-" + fmt.Sprint(s.g.between(1, 8))})
		switch {
		case msg == "Application run failed" || strings.HasPrefix(msg, "starting "):
			logger, thread = "o.s.boot.SpringApplication", "main"
		case strings.HasPrefix(msg, "HikariPool"):
			logger = "com.zaxxer.hikari.pool.HikariPool"
		}
		line := fmt.Sprintf("%s %s 1 --- [%s] [%15s] %-40s : %s", ts.Format("2006-01-02T15:04:05.000Z"), lvl, a.name, thread, logger, msg)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == "stack" {
				line += "\n" + kv[i+1]
			}
		}
		return logLine{text: line}
	case "python":
		lvl := [...]string{"INFO", "WARNING", "ERROR", "CRITICAL"}[lv]
		text := ""
		if variant == 0 {
			text = fmt.Sprintf("%s [%s] %s: %s", ts.Format("2006-01-02 15:04:05,000"), lvl, pick(s.g, []string{"app", "app.api", "app.clients", "uvicorn.error", "app.worker"}), msg)
		} else {
			text = fmt.Sprintf("[%s] [%d] [%s] %s", ts.Format("2006-01-02 15:04:05 -0700"), s.g.between(7, 40), lvl, msg)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == "stack" {
				text += "\n" + kv[i+1]
			}
		}
		return logLine{text: text, stderr: true}
	case "node":
		lvl := [...]int{30, 40, 50, 60}[lv]
		f := map[string]any{"level": lvl, "time": ts.UnixMilli(), "pid": 1, "hostname": p.name(), "msg": msg}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == "err" {
				f["err"] = map[string]any{"type": "Error", "message": kv[i+1], "stack": "Error: " + kv[i+1] + "\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)"}
				continue
			}
			f[kv[i]] = kv[i+1]
		}
		return logLine{text: string(mustJSON(f)), fields: map[string]any{"level": lvl}}
	case "nginx":
		if lv == lvInfo {
			return logLine{text: fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" 200 %d "-" "%s" %.3f`, s.clientIP(), ts.Format("02/Jan/2006:15:04:05 -0700"),
				pick(s.g, []string{"/", "/static/app.js", "/api/cart", "/health"}), s.g.between(200, 9000), pick(s.g, []string{"Mozilla/5.0", "kube-probe/1.31", "curl/8.5.0"}), s.g.float(0.001, 0.3))}
		}
		tag := [...]string{"notice", "warn", "error", "crit"}[lv]
		return logLine{text: fmt.Sprintf("%s [%s] 29#29: *%d %s", ts.Format("2006/01/02 15:04:05"), tag, s.g.between(100, 99999), msg), stderr: true}
	}
	return s.storeLine(p, at, lv, msg)
}

// storeLine is a datastore's or a system component's own log format.
func (s *sim) storeLine(p *pod, at time.Time, lv level, msg string) logLine {
	ts := at.UTC()
	switch p.app.lang {
	case "postgres":
		tag := [...]string{"LOG", "WARNING", "ERROR", "FATAL"}[lv]
		return logLine{text: fmt.Sprintf("%s UTC [%d] %s:  %s", ts.Format("2006-01-02 15:04:05.000"), s.g.between(1, 900), tag, msg), stderr: true}
	case "mysql":
		tag := [...]string{"System", "Warning", "ERROR", "ERROR"}[lv]
		return logLine{text: fmt.Sprintf("%s 0 [%s] [MY-0%05d] [Server] %s", ts.Format("2006-01-02T15:04:05.000000Z"), tag, s.g.between(10000, 13999), msg), stderr: true}
	case "redis":
		tag := [...]string{"*", "#", "#", "#"}[lv]
		return logLine{text: fmt.Sprintf("1:M %s %s %s", ts.Format("02 Jan 2006 15:04:05.000"), tag, msg)}
	case "mongodb":
		sev := [...]string{"I", "W", "E", "F"}[lv]
		return logLine{text: string(mustJSON(map[string]any{"t": map[string]string{"$date": ts.Format("2006-01-02T15:04:05.000+00:00")}, "s": sev, "c": "NETWORK", "id": s.g.between(20000, 51999), "ctx": "conn" + fmt.Sprint(s.g.between(1, 900)), "msg": msg}))}
	case "coredns":
		tag := [...]string{"INFO", "WARNING", "ERROR", "FATAL"}[lv]
		return logLine{text: fmt.Sprintf("[%s] %s", tag, msg)}
	}
	// rabbitmq, elasticsearch, kube-proxy and others: a klog-like line
	k := [...]string{"I", "W", "E", "F"}[lv]
	return logLine{text: fmt.Sprintf("%s%s %7d main.go:%d] %s", k, ts.Format("0102 15:04:05.000000"), 1, s.g.between(30, 400), msg), stderr: true}
}

func (s *sim) clientIP() string {
	return fmt.Sprintf("%d.%d.%d.%d", s.style.podCIDR[0], s.style.podCIDR[1], s.g.between(0, 8), s.g.between(2, 250))
}

// Routine lines: request logs, health checks, housekeeping.

var routePool = []string{"/api/v1/items", "/api/cart", "/api/orders", "/api/v2/products", "/api/users/me", "/checkout", "/api/stock", "/api/quote", "/graphql", "/api/search"}

func (s *sim) infoLine(p *pod, at time.Time) logLine {
	switch p.app.store {
	case "postgres":
		return s.format(p, at, lvInfo, pick(s.g, []string{"checkpoint starting: time", fmt.Sprintf("checkpoint complete: wrote %d buffers (%.1f%%); 0 WAL file(s) added, 0 removed, 1 recycled", s.g.between(10, 900), s.g.float(0.1, 6)), "automatic vacuum of table \"app.public.orders\": index scans: 1"}))
	case "mysql":
		return s.format(p, at, lvInfo, "/usr/sbin/mysqld: ready for connections. Version: '8.0.39'  socket: '/var/run/mysqld/mysqld.sock'  port: 3306  MySQL Community Server - GPL.")
	case "redis":
		return s.format(p, at, lvInfo, pick(s.g, []string{"100 changes in 300 seconds. Saving...", fmt.Sprintf("Background saving started by pid %d", s.g.between(100, 9000)), "Background saving terminated with success", "DB saved on disk"}))
	case "mongodb":
		return s.format(p, at, lvInfo, pick(s.g, []string{"Connection accepted", "Connection ended", "Slow query"}))
	}
	switch p.app.lang {
	case "coredns":
		return s.format(p, at, lvInfo, fmt.Sprintf(`%s:%d - %d "A IN %s.svc.cluster.local. udp %d false 512" NOERROR qr,aa,rd %d %.6fs`,
			s.clientIP(), s.g.between(30000, 60000), s.g.between(1, 65000), pick(s.g, []string{"cart.shop", "redis.default", "api.web", "orders.orders"}), s.g.between(40, 90), s.g.between(90, 200), s.g.float(0.00005, 0.002)))
	case "kube-proxy":
		return s.format(p, at, lvInfo, "\"Syncing iptables rules\" ipFamily=\"IPv4\"")
	}
	route := pick(s.g, routePool)
	status := pick(s.g, []string{"200", "200", "200", "201", "204", "304", "404"})
	dur := fmt.Sprint(s.g.between(2, 180))
	switch s.g.intn(5) {
	case 0:
		return s.format(p, at, lvInfo, "GET "+p.app.probePath+" 200", "path", p.app.probePath, "status", "200", "duration_ms", fmt.Sprint(s.g.between(0, 3)))
	case 1:
		return s.format(p, at, lvInfo, pick(s.g, []string{"cache refreshed", "metrics flushed", "config reloaded: no changes", "scheduled task completed", "connection pool stats: active=3 idle=7 waiting=0"}))
	}
	return s.format(p, at, lvInfo, fmt.Sprintf("%s %s %s in %sms", pick(s.g, []string{"GET", "GET", "POST", "PUT"}), route, status, dur),
		"method", "GET", "path", route, "status", status, "duration_ms", dur)
}

func (s *sim) warnLine(p *pod, at time.Time) logLine {
	return s.format(p, at, lvWarn, pick(s.g, []string{
		fmt.Sprintf("slow request: %s took %dms", pick(s.g, routePool), s.g.between(1200, 4800)),
		fmt.Sprintf("retrying upstream call (attempt %d/3)", s.g.between(1, 2)),
		"connection pool near capacity (18/20)",
		fmt.Sprintf("cache miss ratio %.0f%% above threshold", s.g.float(30, 60)),
		"deprecated config key 'server.timeout' used; use 'server.requestTimeout'",
	}))
}

// Faults.

// connRefusedLine: p cannot reach target (a Service of app t) at all.
func (s *sim) connRefusedLine(p *pod, at time.Time, t *app) logLine {
	host, ip := t.host(s.g), t.svc.ip()
	port := fmt.Sprint(t.port)
	path := pick(s.g, routePool)
	switch p.app.lang {
	case "go":
		if t.store != "" {
			return s.format(p, at, lvError, pick(s.g, []string{"failed to connect to database", "query failed", "health check of " + t.name + " failed"}),
				"error", fmt.Sprintf("dial tcp %s:%s: connect: connection refused", ip, port), "target", host)
		}
		return s.format(p, at, lvError, "upstream request failed", "error", fmt.Sprintf("Get \"http://%s:%s%s\": dial tcp %s:%s: connect: connection refused", host, port, path, ip, port))
	case "java":
		if t.store == "postgres" {
			return s.format(p, at, lvError, "HikariPool-1 - Exception during pool initialization.", "stack", javaTrace(
				fmt.Sprintf("org.postgresql.util.PSQLException: Connection to %s:%s refused. Check that the hostname and port are correct and that the postmaster is accepting TCP/IP connections.", host, port),
				[]string{"org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:342)", "org.postgresql.core.ConnectionFactory.openConnection(ConnectionFactory.java:54)", "com.zaxxer.hikari.pool.HikariPool.createPoolEntry(HikariPool.java:477)"},
				"java.net.ConnectException: Connection refused", []string{"java.base/sun.nio.ch.Net.pollConnect(Native Method)", "java.base/java.net.Socket.connect(Socket.java:751)"}))
		}
		return s.format(p, at, lvError, fmt.Sprintf("I/O error on GET request for \"http://%s:%s%s\": Connection refused", host, port, path), "stack", javaTrace(
			fmt.Sprintf("org.springframework.web.client.ResourceAccessException: I/O error on GET request for \"http://%s:%s%s\": Connection refused", host, port, path),
			[]string{"org.springframework.web.client.RestTemplate.createResourceAccessException(RestTemplate.java:915)", "org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:895)"},
			"java.net.ConnectException: Connection refused", []string{"java.base/sun.nio.ch.Net.connect0(Native Method)", "java.base/sun.nio.ch.NioSocketImpl.connect(NioSocketImpl.java:592)"}))
	case "python":
		if t.store == "redis" {
			return s.format(p, at, lvError, "cache unavailable", "stack", pyTrace([]string{"/app/cache.py\", line 41, in get\n    return self.client.get(key)"},
				fmt.Sprintf("redis.exceptions.ConnectionError: Error 111 connecting to %s:%s. Connection refused.", host, port)))
		}
		if t.store != "" {
			return s.format(p, at, lvError, "database unavailable", "stack", pyTrace([]string{"/app/db.py\", line 27, in session\n    conn = engine.connect()"},
				fmt.Sprintf("sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at \"%s\" (%s), port %s failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?", host, ip, port)))
		}
		return s.format(p, at, lvError, "call to "+t.name+" failed", "stack", pyTrace([]string{"/app/clients.py\", line 58, in fetch\n    resp = session.get(url, timeout=2)"},
			fmt.Sprintf("requests.exceptions.ConnectionError: HTTPConnectionPool(host='%s', port=%s): Max retries exceeded with url: %s (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f%s>: Failed to establish a new connection: [Errno 111] Connection refused'))", host, port, path, s.g.hex(9))))
	case "node":
		return s.format(p, at, lvError, "request to "+t.name+" failed", "err", fmt.Sprintf("connect ECONNREFUSED %s:%s", ip, port), "target", host)
	}
	return s.format(p, at, lvError, fmt.Sprintf("connect() failed (111: Connection refused) while connecting to upstream, upstream: \"http://%s:%s%s\"", ip, port, path))
}

// dnsFailLine: p cannot resolve target's name because cluster DNS is down.
// Like real resolvers, some failures are timeouts rather than errors that
// name DNS.
func (s *sim) dnsFailLine(p *pod, at time.Time, t *app) logLine {
	host := t.name + "." + t.ns + ".svc.cluster.local"
	if s.g.chance(0.4) {
		host = t.host(s.g)
	}
	dns := s.style.dnsIP
	switch p.app.lang {
	case "go":
		e := fmt.Sprintf("dial tcp: lookup %s on %s:53: server misbehaving", host, dns)
		if s.g.chance(0.35) {
			e = fmt.Sprintf("dial tcp: lookup %s on %s:53: read udp %s:%d->%s:53: i/o timeout", host, dns, p.ip(), s.g.between(30000, 60000), dns)
		}
		return s.format(p, at, lvError, "upstream request failed", "error", e)
	case "java":
		return s.format(p, at, lvError, "Request to "+t.name+" failed", "stack", javaTrace(
			fmt.Sprintf("java.net.UnknownHostException: %s: Temporary failure in name resolution", host),
			[]string{"java.base/java.net.Inet6AddressImpl.lookupAllHostAddr(Native Method)", "java.base/java.net.InetAddress$PlatformResolver.lookupByName(InetAddress.java:1211)", "java.base/java.net.InetAddress.getAllByName0(InetAddress.java:1828)"}, "", nil))
	case "python":
		return s.format(p, at, lvError, "call to "+t.name+" failed", "stack", pyTrace([]string{"/app/clients.py\", line 58, in fetch\n    resp = session.get(url, timeout=2)"},
			fmt.Sprintf("requests.exceptions.ConnectionError: HTTPConnectionPool(host='%s', port=%d): Max retries exceeded with url: /api (Caused by NameResolutionError(\"<urllib3.connection.HTTPConnection object at 0x7f%s>: Failed to resolve '%s' ([Errno -3] Temporary failure in name resolution)\"))", host, t.port, s.g.hex(9), host)))
	case "node":
		return s.format(p, at, lvError, "request to "+t.name+" failed", "err", "getaddrinfo EAI_AGAIN "+host)
	}
	return s.format(p, at, lvError, fmt.Sprintf("%s could not be resolved (2: Server failure)", host))
}

// oomLine: what an application prints when it runs out of memory, if it
// gets the chance (a cgroup OOM kill is silent).
func (s *sim) oomLine(p *pod, at time.Time) logLine {
	switch p.app.lang {
	case "java":
		return logLine{text: fmt.Sprintf("Exception in thread \"http-nio-%d-exec-%d\" java.lang.OutOfMemoryError: Java heap space\n\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)\n\tat java.base/java.lang.AbstractStringBuilder.ensureCapacityInternal(AbstractStringBuilder.java:228)\n\tat com.fasterxml.jackson.databind.ObjectMapper.writeValueAsString(ObjectMapper.java:3964)", p.app.port, s.g.between(1, 10)), stderr: true}
	case "node":
		return logLine{text: fmt.Sprintf("\n<--- Last few GCs --->\n\n[1:0x%s]   %d ms: Mark-Compact 2011.4 (2083.5) -> 2010.9 (2084.0) MB, 1830.2 / 0.0 ms  (average mu = 0.107, current mu = 0.012) allocation failure; scavenge might not succeed\n\n<--- JS stacktrace --->\n\nFATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory", s.g.hex(7), s.g.between(100000, 900000)), stderr: true}
	case "python":
		return s.format(p, at, lvError, "worker crashed", "stack", pyTrace([]string{"/app/worker.py\", line 88, in build_report\n    rows = list(cursor.fetchall())"}, "MemoryError"))
	case "go":
		return logLine{text: "fatal error: runtime: out of memory\n\nruntime stack:\nruntime.throw({0x1a2b3c4, 0x16})\n\t/usr/local/go/src/runtime/panic.go:1067 +0x48\nruntime.sysMap(0xc400000000, 0x4000000, 0x2b8f5e8)\n\t/usr/local/go/src/runtime/mem_linux.go:167 +0x94", stderr: true}
	case "redis":
		return s.format(p, at, lvWarn, "Can't save in background: fork: Cannot allocate memory")
	case "postgres":
		return s.format(p, at, lvError, "out of memory\nDETAIL:  Failed on request of size 8388608 in memory context \"ExecutorState\".")
	}
	return s.format(p, at, lvError, "out of memory")
}

// memoryWarnLine: the warnings a leaking service logs before it is killed.
func (s *sim) memoryWarnLine(p *pod, at time.Time, pct int) logLine {
	switch p.app.lang {
	case "java":
		return s.format(p, at, lvWarn, fmt.Sprintf("GC overhead high: %d%% of time in GC over the last minute, old gen %d%% full", s.g.between(20, 60), pct))
	case "node":
		return s.format(p, at, lvWarn, fmt.Sprintf("heap usage %d%% of limit", pct), "heapUsedMB", fmt.Sprint(pct*20))
	}
	return s.format(p, at, lvWarn, fmt.Sprintf("memory usage at %d%% of limit", pct), "rss_mb", fmt.Sprint(pct*5))
}

// crashLines: a start-up crash, from a bad configuration (config=true) or
// a bug in a new version, as the language prints it.
//
// The same binary with the same configuration crashes the same way every
// time: the choices come from the app and the cause, not the run.
func (s *sim) crashLines(p *pod, at time.Time, config bool) []logLine {
	a := p.app
	g := newRNG(int64(fnv32(a.uid+p.obj.Spec.Containers[0].Image)), map[bool]uint64{true: 11, false: 12}[config])
	key := pick(g, []string{"UPSTREAM_TIMEOUT", "RATE_LIMIT", "MAX_CONNECTIONS", "CACHE_TTL", "FEATURE_FLAGS", "PAYMENT_PROVIDER_URL"})
	started := at.Add(-s.g.dur(200*time.Millisecond, time.Second))
	var out []logLine
	first := s.format(p, started, lvInfo, "starting "+a.name+" "+strings.TrimPrefix(p.obj.Spec.Containers[0].Image[strings.LastIndexByte(p.obj.Spec.Containers[0].Image, ':'):], ":"))
	first.at = started
	out = append(out, first)
	switch a.lang {
	case "go":
		if config && g.chance(0.4) {
			out = append(out, s.format(p, at, lvFatal, "cannot load configuration", "error", fmt.Sprintf("config: %s: strconv.Atoi: parsing \"%s\": invalid syntax", key, pick(g, []string{"30s", "10O", "unlimited", "1e3"}))))
			break
		}
		cause := "runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x9c1d2f]"
		if config {
			cause = fmt.Sprintf("invalid configuration: %s: yaml: line %d: did not find expected key", strings.ToLower(key), g.between(3, 60))
		}
		out = append(out, logLine{text: fmt.Sprintf("panic: %s\n\ngoroutine 1 [running]:\nmain.mustLoad(...)\n\t/src/cmd/%s/main.go:%d +0x1c5\nmain.main()\n\t/src/cmd/%s/main.go:%d +0x25", cause, a.name, g.between(40, 90), a.name, g.between(20, 39)), stderr: true})
	case "java":
		if config {
			out = append(out, s.format(p, at, lvError, "Application run failed", "stack", javaTrace(
				fmt.Sprintf("org.springframework.beans.factory.BeanCreationException: Error creating bean with name '%sClient': Injection of autowired dependencies failed", a.name),
				[]string{"org.springframework.beans.factory.annotation.AutowiredAnnotationBeanPostProcessor.postProcessProperties(AutowiredAnnotationBeanPostProcessor.java:515)", "org.springframework.boot.SpringApplication.run(SpringApplication.java:335)"},
				fmt.Sprintf("java.lang.IllegalArgumentException: Could not resolve placeholder '%s' in value \"${%s}\"", strings.ToLower(key), strings.ToLower(key)),
				[]string{"org.springframework.util.PropertyPlaceholderHelper.parseStringValue(PropertyPlaceholderHelper.java:180)"})))
		} else {
			out = append(out, s.format(p, at, lvError, "Application run failed", "stack", javaTrace(
				"java.lang.NoSuchMethodError: 'void com.acme.common.Money.<init>(long, java.lang.String)'",
				[]string{fmt.Sprintf("com.acme.%s.service.PriceService.<init>(PriceService.java:%d)", a.name, g.between(20, 120)), "org.springframework.beans.BeanUtils.instantiateClass(BeanUtils.java:198)"}, "", nil)))
		}
	case "python":
		last := fmt.Sprintf("ValueError: invalid literal for int() with base 10: '%s'", pick(g, []string{"30s", "ten", "1,000"}))
		if !config {
			last = "AttributeError: 'NoneType' object has no attribute 'get'"
		} else if g.chance(0.4) {
			last = fmt.Sprintf("KeyError: '%s'", key)
		}
		out = append(out, logLine{text: pyTrace([]string{"/app/main.py\", line 12, in <module>\n    app = create_app()", "/app/config.py\", line 31, in load\n    value = int(os.environ[\"" + key + "\"])"}, last), stderr: true})
	case "node":
		out = append(out, logLine{text: fmt.Sprintf("/app/src/config.js:%d\n    const port = settings.%s.port;\n                            ^\n\nTypeError: Cannot read properties of undefined (reading 'port')\n    at Object.<anonymous> (/app/src/config.js:%d:29)\n    at Module._compile (node:internal/modules/cjs/loader:1469:14)\n\nNode.js v20.17.0", g.between(5, 40), strings.ToLower(key), g.between(5, 40)), stderr: true})
	default:
		out = append(out, s.format(p, at, lvFatal, fmt.Sprintf("invalid configuration: %s", strings.ToLower(key))))
	}
	for i := 1; i < len(out); i++ {
		out[i].at = at
	}
	return out
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func javaTrace(first string, frames []string, cause string, causeFrames []string) string {
	var b strings.Builder
	b.WriteString(first)
	for _, f := range frames {
		b.WriteString("\n\tat " + f)
	}
	if cause != "" {
		b.WriteString("\nCaused by: " + cause)
		for _, f := range causeFrames {
			b.WriteString("\n\tat " + f)
		}
		fmt.Fprintf(&b, "\n\t... %d more", 40+len(first)%30)
	}
	return b.String()
}

func pyTrace(frames []string, last string) string {
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):")
	for _, f := range frames {
		b.WriteString("\n  File \"" + f)
	}
	b.WriteString("\n" + last)
	return b.String()
}
