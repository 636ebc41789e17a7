// Package apachekafka runs real Apache Kafka brokers as plain JVM processes
// for the integration tests, the load tool and contributors: the jars of a
// chosen version come from Maven Central into a cache folder, the KRaft
// storage is formatted, and one or three combined broker+controller nodes
// listen on free loopback ports. No Docker engine is needed, only Java 17+
// and Maven.
package apachekafka

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/segmentio/kafka-go"
)

// DefaultVersion is the newest Apache Kafka the suite runs in full.
const DefaultVersion = "4.4.0"

// ErrNoJava says the machine cannot run a broker at all: the callers tell a
// contributor's laptop (skip with one line) from CI (fail) by it.
var ErrNoJava = errors.New("no Java runtime or Maven on PATH")

//go:embed pom.xml.tmpl
var pomTemplate string

// Config says what to run.
type Config struct {
	Version  string // Apache Kafka version, e.g. "4.4.0" or "3.9.1"
	CacheDir string // where the jars of each version are kept; default: the repository's .cache/apache-kafka
	Dir      string // data, configuration and logs of the nodes; required
	Nodes    int    // 1 (default) or 3
	HeapMB   int    // per node; default 384

	// Secure adds SASL_PLAINTEXT (PLAIN and SCRAM), SSL and SASL_SSL
	// listeners beside PLAINTEXT. Users are created when the storage is
	// formatted.
	Secure *Secure
	// Extra broker properties, applied last (e.g. "log.retention.ms").
	Extra map[string]string
	// Log receives progress lines (resolving, formatting, started); may be nil.
	Log func(format string, args ...any)
}

// Secure describes the secured listeners.
type Secure struct {
	PlainUsers map[string]string // name → password, for PLAIN
	ScramUsers map[string]string // name → password, for SCRAM-SHA-256 and SCRAM-SHA-512
	CertFile   string            // PEM: the server's certificate chain
	KeyFile    string            // PEM: its PKCS#8 private key, unencrypted
}

// Listener names the client listeners a node can have.
type Listener string

const (
	Plaintext     Listener = "PLAINTEXT"
	SASLPlaintext Listener = "SASL_PLAINTEXT"
	SSL           Listener = "SSL"
	SASLSSL       Listener = "SASL_SSL"
)

// Cluster is a running set of nodes.
type Cluster struct {
	cfg       Config
	classpath string
	clusterID string
	nodes     []*node
}

type node struct {
	id        int
	dir       string
	ports     map[Listener]int
	ctrlPort  int
	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	exitError error
}

func (c *Config) defaults() error {
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.Nodes == 0 {
		c.Nodes = 1
	}
	if c.Nodes != 1 && c.Nodes != 3 {
		return fmt.Errorf("apachekafka: Nodes must be 1 or 3, got %d", c.Nodes)
	}
	if c.HeapMB == 0 {
		c.HeapMB = 384
	}
	if c.Dir == "" {
		return errors.New("apachekafka: Dir is required")
	}
	if c.CacheDir == "" {
		root, err := repoRoot()
		if err != nil {
			return err
		}
		c.CacheDir = filepath.Join(root, ".cache", "apache-kafka")
	}
	if c.Log == nil {
		c.Log = func(string, ...any) {}
	}
	return nil
}

// repoRoot is the folder of go.mod above the working directory: tests run in
// their package's folder, commands anywhere in the repository.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("apachekafka: no go.mod above %s: set CacheDir", dir)
		}
	}
}

// javaBin is the java to run: JAVA_HOME's when set, as Kafka's scripts do.
func javaBin() (string, error) {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		j := filepath.Join(h, "bin", "java")
		if _, err := os.Stat(j); err == nil {
			return j, nil
		}
	}
	j, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("%w: java: %w", ErrNoJava, err)
	}
	return j, nil
}

// Resolve makes sure the jars of version are in the cache and returns their
// folder. Maven runs only the first time; a finished resolution is marked so
// that an interrupted one is redone.
func Resolve(ctx context.Context, version, cacheDir string, logf func(string, ...any)) (string, error) {
	dir := filepath.Join(cacheDir, version)
	done := filepath.Join(dir, ".resolved")
	if _, err := os.Stat(done); err == nil {
		return dir, nil
	}
	if _, err := javaBin(); err != nil {
		return "", err
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", fmt.Errorf("%w: mvn: %w", ErrNoJava, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	pom, err := renderPOM(version)
	if err != nil {
		return "", err
	}
	pomFile := filepath.Join(dir, "pom.xml")
	if err := os.WriteFile(pomFile, pom, 0o644); err != nil {
		return "", err
	}
	if logf != nil {
		logf("resolving Apache Kafka %s from Maven Central into %s", version, dir)
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "-f", pomFile, "dependency:copy-dependencies",
		"-DoutputDirectory="+filepath.Join(dir, "libs"), "-DincludeScope=runtime")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apachekafka: resolving Apache Kafka %s with Maven: %w\n%s", version, err, tailLines(string(out), 30))
	}
	if logf != nil {
		logf("resolved Apache Kafka %s in %s", version, time.Since(start).Round(time.Second))
	}
	return dir, os.WriteFile(done, []byte(version+"\n"), 0o644)
}

// ResolveConfig resolves the jars of cfg.Version into cfg's cache folder
// (the default one when unset).
func ResolveConfig(ctx context.Context, cfg Config, logf func(string, ...any)) (string, error) {
	if err := cfg.defaults(); err != nil {
		return "", err
	}
	return Resolve(ctx, cfg.Version, cfg.CacheDir, logf)
}

// renderPOM names the broker, the tools and a logging binding: Kafka 3.x
// brings reload4j's, Kafka 4 uses Log4j 2 and leaves the SLF4J binding to the
// distribution, which we are.
func renderPOM(version string) ([]byte, error) {
	tmpl, err := template.New("pom").Parse(pomTemplate)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = tmpl.Execute(&b, struct {
		Version string
		Log4j2  bool
	}{version, !strings.HasPrefix(version, "3.")})
	return b.Bytes(), err
}

// Start resolves the jars, formats each node's storage and starts the nodes,
// returning once every node answers and the cluster has a controller.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	jars, err := Resolve(ctx, cfg.Version, cfg.CacheDir, cfg.Log)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, classpath: filepath.Join(jars, "libs", "*"), clusterID: newClusterID()}
	listeners := []Listener{Plaintext}
	if cfg.Secure != nil {
		listeners = append(listeners, SASLPlaintext, SSL, SASLSSL)
	}
	ports, err := freePorts(cfg.Nodes * (len(listeners) + 1))
	if err != nil {
		return nil, err
	}
	for i := 0; i < cfg.Nodes; i++ {
		n := &node{id: i + 1, dir: filepath.Join(cfg.Dir, fmt.Sprintf("node-%d", i+1)), ports: map[Listener]int{}}
		for _, l := range listeners {
			n.ports[l], ports = ports[0], ports[1:]
		}
		n.ctrlPort, ports = ports[0], ports[1:]
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		if err := c.format(ctx, n); err != nil {
			return nil, err
		}
	}
	for _, n := range c.nodes {
		if err := c.launch(n); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitReady(ctx, c.cfg.Nodes); err != nil {
		c.Close()
		return nil, err
	}
	cfg.Log("Apache Kafka %s: %d node(s) ready at %s", cfg.Version, cfg.Nodes, strings.Join(c.Bootstrap(Plaintext), ","))
	return c, nil
}

// newClusterID is what kafka-storage random-uuid prints: 16 random bytes in
// URL-safe base64 without padding, never starting with '-' (as Kafka's own
// Uuid.randomUuid): the storage tool's argument parser takes "-t -abc…" for
// a missing value and a new option, and formatting fails once in 64 runs.
func newClusterID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id
		}
	}
}

// freePorts picks n free loopback ports below the kernel's ephemeral range
// (ip_local_port_range, 32768 and up by default): a port from that range can
// be taken as the source port of any outgoing connection between the check
// and the broker's bind, or while a killed node is down, and a node that
// cannot bind its port exits. Ports are drawn at random so that parallel
// runs rarely meet; bind checks each.
func freePorts(n int) ([]int, error) {
	lo, hi := 20000, ephemeralStart()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0"
		if hi-lo > 1000 && tries < 50*n {
			addr = "127.0.0.1:" + strconv.Itoa(lo+mrand.IntN(hi-lo))
		}
		// A bind waits on nothing a caller could cancel.
		ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue
			}
			return nil, fmt.Errorf("apachekafka: finding a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ephemeralStart is the first port the kernel hands out for outgoing
// connections.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	p, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return p
}

// Version is the Apache Kafka version the cluster runs.
func (c *Cluster) Version() string { return c.cfg.Version }

// Nodes is the number of nodes.
func (c *Cluster) Nodes() int { return len(c.nodes) }

// Bootstrap returns every node's address on the listener.
func (c *Cluster) Bootstrap(l Listener) []string {
	var out []string
	for _, n := range c.nodes {
		if p, ok := n.ports[l]; ok {
			out = append(out, "127.0.0.1:"+strconv.Itoa(p))
		}
	}
	return out
}

// Addr returns node id's PLAINTEXT address.
func (c *Cluster) Addr(id int) string {
	return "127.0.0.1:" + strconv.Itoa(c.nodes[id-1].ports[Plaintext])
}

// LogFile is node id's console log, for a failing test to show.
func (c *Cluster) LogFile(id int) string { return filepath.Join(c.nodes[id-1].dir, "server.log") }

func (c *Cluster) properties(n *node) string {
	var b strings.Builder
	set := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	nodes := len(c.nodes)
	var voters, listeners, advertised []string
	for _, o := range c.nodes {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", o.id, o.ctrlPort))
	}
	for _, l := range []Listener{Plaintext, SASLPlaintext, SSL, SASLSSL} {
		if p, ok := n.ports[l]; ok {
			a := fmt.Sprintf("%s://127.0.0.1:%d", l, p)
			listeners = append(listeners, a)
			advertised = append(advertised, a)
		}
	}
	listeners = append(listeners, fmt.Sprintf("CONTROLLER://127.0.0.1:%d", n.ctrlPort))
	set("process.roles", "broker,controller")
	set("node.id", strconv.Itoa(n.id))
	set("controller.quorum.voters", strings.Join(voters, ","))
	set("listeners", strings.Join(listeners, ","))
	set("advertised.listeners", strings.Join(advertised, ","))
	set("controller.listener.names", "CONTROLLER")
	set("inter.broker.listener.name", string(Plaintext))
	set("listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL")
	set("log.dirs", filepath.Join(n.dir, "data"))
	set("auto.create.topics.enable", "false")
	set("num.partitions", "1")
	set("default.replication.factor", strconv.Itoa(nodes))
	set("min.insync.replicas", strconv.Itoa(min(2, nodes)))
	set("offsets.topic.replication.factor", strconv.Itoa(nodes))
	set("offsets.topic.num.partitions", "10")
	set("transaction.state.log.replication.factor", strconv.Itoa(nodes))
	set("transaction.state.log.min.isr", strconv.Itoa(min(2, nodes)))
	set("share.coordinator.state.topic.replication.factor", strconv.Itoa(nodes))
	set("share.coordinator.state.topic.min.isr", strconv.Itoa(min(2, nodes)))
	set("group.initial.rebalance.delay.ms", "0")
	// Two cores are shared with the tests: few threads.
	set("num.network.threads", "2")
	set("num.io.threads", "2")
	set("background.threads", "2")
	set("num.recovery.threads.per.data.dir", "1")
	set("log.flush.interval.messages", "9223372036854775807")
	if s := c.cfg.Secure; s != nil {
		set("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512")
		var plainUsers []string
		for u, p := range s.PlainUsers {
			plainUsers = append(plainUsers, fmt.Sprintf("user_%s=%q", u, p))
		}
		for _, l := range []string{"sasl_plaintext", "sasl_ssl"} {
			set("listener.name."+l+".plain.sasl.jaas.config",
				"org.apache.kafka.common.security.plain.PlainLoginModule required "+strings.Join(plainUsers, " ")+";")
			for _, m := range []string{"scram-sha-256", "scram-sha-512"} {
				set("listener.name."+l+"."+m+".sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required;")
			}
		}
		set("ssl.keystore.type", "PEM")
		set("ssl.keystore.location", filepath.Join(n.dir, "keystore.pem"))
	}
	for k, v := range c.cfg.Extra {
		set(k, v)
	}
	return b.String()
}

func (c *Cluster) java(ctx context.Context, n *node, main string, args ...string) (*exec.Cmd, error) {
	java, err := javaBin()
	if err != nil {
		return nil, err
	}
	jvm := []string{
		fmt.Sprintf("-Xmx%dm", c.cfg.HeapMB), fmt.Sprintf("-Xms%dm", min(128, c.cfg.HeapMB)),
		// Start-up and a short life matter more than peak speed here.
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
		"-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + filepath.Join(n.dir, "log4j2.properties"),
		"-Dlog4j.configuration=file:" + filepath.Join(n.dir, "log4j.properties"),
		"-Dkafka.logs.dir=" + n.dir,
		"-cp", c.classpath, main,
	}
	return exec.CommandContext(ctx, java, append(jvm, args...)...), nil
}

// The console gets warnings and the lines that tell a node's life.
const log4j2Props = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = INFO
`

const log4jProps = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
`

func (c *Cluster) format(ctx context.Context, n *node) error {
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return err
	}
	files := map[string]string{
		"server.properties": c.properties(n),
		"log4j2.properties": log4j2Props,
		"log4j.properties":  log4jProps,
	}
	if s := c.cfg.Secure; s != nil {
		ks, err := keystorePEM(s)
		if err != nil {
			return err
		}
		files["keystore.pem"] = ks
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(n.dir, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	args := []string{"format", "-t", c.clusterID, "-c", filepath.Join(n.dir, "server.properties")}
	if s := c.cfg.Secure; s != nil {
		for u, p := range s.ScramUsers {
			for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
				args = append(args, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", m, u, p))
			}
		}
	}
	cmd, err := c.java(ctx, n, "kafka.tools.StorageTool", args...)
	if err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("apachekafka: formatting node %d's storage: %w\n%s", n.id, err, tailLines(string(out), 30))
	}
	return ctx.Err()
}

// keystorePEM is Kafka's PEM keystore: the private key, then the chain.
func keystorePEM(s *Secure) (string, error) {
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		return "", err
	}
	chain, err := os.ReadFile(s.CertFile)
	if err != nil {
		return "", err
	}
	return string(key) + string(chain), nil
}

func (c *Cluster) launch(n *node) error {
	// Not bound to a context: a node lives until Stop, Kill or Close.
	cmd, err := c.java(context.Background(), n, "kafka.Kafka", filepath.Join(n.dir, "server.properties"))
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(n.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, and killed with us: a test binary that dies
	// must not leave brokers holding ports and memory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("apachekafka: starting node %d: %w", n.id, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.exitError = err
		n.mu.Unlock()
		close(exited)
	}()
	return nil
}

// WaitReady waits until the cluster's metadata lists want brokers and a
// controller, and each running node answers on its own.
func (c *Cluster) WaitReady(ctx context.Context, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		if err := c.exitedEarly(); err != nil {
			return err
		}
		if last = c.ready(ctx, want); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("apachekafka: Apache Kafka %s did not become ready in 2m: %w (logs: %s)", c.cfg.Version, last, c.LogFile(1))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) exitedEarly() error {
	for _, n := range c.nodes {
		n.mu.Lock()
		exited, err := n.exited, n.exitError
		n.mu.Unlock()
		select {
		case <-exited:
			return fmt.Errorf("apachekafka: node %d exited at start-up (%w):\n%s", n.id, err, tailFile(c.LogFile(n.id), 40))
		default:
		}
	}
	return nil
}

func (c *Cluster) ready(ctx context.Context, want int) error {
	for _, n := range c.running() {
		cl := &kafka.Client{Addr: kafka.TCP(c.Addr(n.id)), Timeout: 2 * time.Second}
		md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
		if err != nil {
			return err
		}
		if len(md.Brokers) < want {
			return fmt.Errorf("node %d sees %d of %d brokers", n.id, len(md.Brokers), want)
		}
		if md.Controller.ID < 0 || md.Controller.Host == "" {
			return fmt.Errorf("node %d knows no controller", n.id)
		}
	}
	return nil
}

func (c *Cluster) running() []*node {
	var out []*node
	for _, n := range c.nodes {
		n.mu.Lock()
		alive := n.cmd != nil && n.exited != nil
		if alive {
			select {
			case <-n.exited:
				alive = false
			default:
			}
		}
		n.mu.Unlock()
		if alive {
			out = append(out, n)
		}
	}
	return out
}

// Report tells, per node, whether it runs or how it ended, with the last
// lines of its log: what a failing test shows.
func (c *Cluster) Report(lines int) string {
	var b strings.Builder
	for _, n := range c.nodes {
		n.mu.Lock()
		state := "running"
		select {
		case <-n.exited:
			state = fmt.Sprintf("exited (%v)", n.exitError)
		default:
		}
		n.mu.Unlock()
		fmt.Fprintf(&b, "node %d (%s), PLAINTEXT %s, %s; last lines of %s:\n%s\n",
			n.id, c.cfg.Version, c.Addr(n.id), state, c.LogFile(n.id), tailFile(c.LogFile(n.id), lines))
	}
	return b.String()
}

// Kill sends SIGKILL to node id, as a crashed machine would, and waits for it
// to be gone.
func (c *Cluster) Kill(id int) { c.signal(id, syscall.SIGKILL, 30*time.Second) }

// Stop ends node id with SIGTERM (a controlled shutdown), and with SIGKILL
// if it has not ended in 30s.
func (c *Cluster) Stop(id int) {
	if !c.signal(id, syscall.SIGTERM, 30*time.Second) {
		c.signal(id, syscall.SIGKILL, 30*time.Second)
	}
}

func (c *Cluster) signal(id int, sig syscall.Signal, wait time.Duration) bool {
	n := c.nodes[id-1]
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return true
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-exited:
		return true
	case <-time.After(wait):
		return false
	}
}

// Restart starts a stopped or killed node again on its ports and data.
func (c *Cluster) Restart(id int) error {
	n := c.nodes[id-1]
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	if exited != nil {
		select {
		case <-exited:
		default:
			return fmt.Errorf("apachekafka: node %d is still running", id)
		}
	}
	return c.launch(n)
}

// Close stops every node; the data folder is the caller's.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); c.Stop(n.id) }()
	}
	wg.Wait()
}

// Java runs a main class of the cluster's jars (e.g. the tools of
// kafka-tools) and returns what it printed.
func (c *Cluster) Java(ctx context.Context, main string, args ...string) (string, error) {
	cmd, err := c.java(ctx, c.nodes[0], main, args...)
	if err != nil {
		return "", err
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return tailLines(string(b), n)
}
