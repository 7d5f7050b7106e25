//go:build linux

package e2etest

// BenchmarkBatch500 measures one 500-user batch through delivery.Deliverer,
// the path POST /v1/push and the SQS batches share, against DynamoDB Local
// and the eight vendor mocks answering after 30 ms. The mocks run in a child
// process (this test binary re-run as TestBenchVendorMocks), and DynamoDB
// Local in its own JVM, so the process CPU time measured is offpush's alone:
// decisions, payloads, vendor clients, the store's SDK calls. The garbage
// collector is set as message-push sets it in its container (lambdagc).

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/delivery"
	dev "github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/dynamo"
	"github.com/offpush/offpush/shared/testinfra/dynamolocal"
	"github.com/offpush/offpush/shared/testinfra/lambdagc"
	"github.com/offpush/offpush/shared/vendors"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// Shape of the benchmark batch.
const (
	benchUsers       = 500
	benchSecondUsers = 100 // users with a second device: 600 devices
	benchLatency     = 30 * time.Millisecond
)

// benchMocksEnv, when set to the JSON of a benchMocksConfig, makes
// TestBenchVendorMocks serve the eight vendor mocks for the benchmark's
// parent process: one JSON line (benchMocksReady) on stdout when they are
// up, a benchMocksReport line for every line read on stdin, and an exit when
// stdin closes (the parent ended).
const benchMocksEnv = "OFFPUSH_BENCH_VENDOR_MOCKS"

type benchMocksConfig struct {
	APNsPublicKey []byte // PKIX DER of the .p8's public key
	Latency       time.Duration
}

type benchMocksReady struct {
	Env                map[string]string // the OFFPUSH_*_URL overrides
	CA                 string            // PEM bundle of the TLS mocks
	ServiceAccountJSON string            // FCM's
}

type benchMocksReport struct {
	Requests map[string]int // requests each mock accepted
	Failures []string       // vendor rules the requests broke
	CPU      time.Duration  // the mock process's user and system CPU
}

// TestBenchVendorMocks is not a test: it serves BenchmarkBatch500's mocks
// in a child process, and skips otherwise.
func TestBenchVendorMocks(t *testing.T) {
	raw := os.Getenv(benchMocksEnv)
	if raw == "" {
		t.Skip("serves BenchmarkBatch500's vendor mocks in its child process")
	}
	var cfg benchMocksConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(cfg.APNsPublicKey)
	key, ok := pub.(*ecdsa.PublicKey)
	if err != nil || !ok {
		t.Fatalf("APNs public key: %v", err)
	}
	opts := vendortest.Options{Latency: cfg.Latency}
	apns := vendortest.NewAPNs(t, opts, vendortest.APNsConfig{BundleID: pushBundleID, TeamID: pushTeamID, KeyID: pushKeyID, Key: key, Discard: true})
	fcm := vendortest.NewFCM(t, opts)
	huawei := vendortest.NewHuawei(t, opts, huaweiAppID, huaweiSecret)
	honor := vendortest.NewHonor(t, opts, honorAppID, honorClientID, honorSecret)
	xiaomi := vendortest.NewXiaomi(t, opts, xiaomiSecret, xiaomiPackage)
	oppo := vendortest.NewOPPO(t, opts, oppoAppKey, oppoSecret)
	vivo := vendortest.NewVivo(t, opts, vendortest.VivoApp{AppID: vivoAppID, AppKey: vivoAppKey, AppSecret: vivoSecret})
	meizu := vendortest.NewMeizu(t, opts, meizuAppID, meizuSecret)

	var ca []byte
	for _, f := range []string{apns.CAFile, fcm.CAFile, huawei.CAFile, honor.CAFile, xiaomi.CAFile(t), oppo.CAFile, vivo.CAFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ca = append(ca, b...)
	}
	logs := map[string]*vendortest.Log{"apns": &apns.Log, "fcm": &fcm.Log, "huawei": &huawei.Log, "honor": &honor.Log,
		"xiaomi": xiaomi.Log, "oppo": oppo.Log, "vivo": vivo.Log, "meizu": meizu.Log}
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(benchMocksReady{
		Env: map[string]string{
			"OFFPUSH_APNS_URL": apns.URL(), "OFFPUSH_FCM_URL": fcm.URL(),
			"OFFPUSH_HUAWEI_URL": huawei.URL(), "OFFPUSH_HUAWEI_AUTH_URL": huawei.URL(),
			"OFFPUSH_HONOR_URL": honor.URL(), "OFFPUSH_HONOR_AUTH_URL": honor.URL(),
			"OFFPUSH_XIAOMI_URL": xiaomi.URL(), "OFFPUSH_OPPO_URL": oppo.URL(),
			"OFFPUSH_VIVO_URL": vivo.URL(), "OFFPUSH_MEIZU_URL": meizu.URL(),
		},
		CA:                 string(ca),
		ServiceAccountJSON: fcm.ServiceAccountJSON,
	}); err != nil {
		t.Fatal(err)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		r := benchMocksReport{Requests: map[string]int{}, CPU: processCPU()}
		for v, l := range logs {
			r.Requests[v] = len(l.Received())
			r.Failures = append(r.Failures, l.Failures()...)
		}
		r.Requests["apns"] = int(apns.Requests()) // Discard: no log kept
		if err := out.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
}

// benchMocks is the mock process seen from the benchmark.
type benchMocks struct {
	benchMocksReady
	caFile string
	stdin  io.Writer
	out    *json.Decoder
}

func startBenchMocks(key *ecdsa.PublicKey) (*benchMocks, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(benchMocksConfig{APNsPublicKey: der, Latency: benchLatency})
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchVendorMocks$", "-test.bench=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchMocksEnv+"="+string(cfg))
	cmd.Stderr = os.Stderr
	// The child outlives the benchmark runs (it serves all of them) and
	// ends with this process: its stdin closes, or at the latest this
	// signal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the mock process: %w", err)
	}
	m := &benchMocks{stdin: stdin, out: json.NewDecoder(bufio.NewReader(stdout))}
	if err := m.out.Decode(&m.benchMocksReady); err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("the mock process did not start: %w", err)
	}
	dir, err := os.MkdirTemp("", "offpush-bench-")
	if err != nil {
		return nil, err
	}
	m.caFile = filepath.Join(dir, "vendor-ca.pem")
	return m, os.WriteFile(m.caFile, []byte(m.CA), 0o600)
}

// report asks the mock process what it saw so far.
func (m *benchMocks) report() (benchMocksReport, error) {
	var r benchMocksReport
	if _, err := io.WriteString(m.stdin, "report\n"); err != nil {
		return r, err
	}
	return r, m.out.Decode(&r)
}

// callCounter counts DynamoDB API calls by operation (and, for single-item
// calls, the kind of item: "GetItem vtoken#quota" is a quota marker), and
// the HTTP attempts behind them (the SDK's retries included).
type callCounter struct {
	mu       sync.Mutex
	calls    map[string]int
	attempts int
	// spans are, by operation, the first start and last end of its calls
	// since the last take: a batch's parallel reads or writes as one phase.
	spans map[string][2]time.Time
}

func (c *callCounter) register(stack *middleware.Stack) error {
	op := stack.ID()
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("offpushCountCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			label := op
			if kind := itemKind(in.Parameters); kind != "" {
				label += " " + kind
			}
			start := time.Now()
			c.mu.Lock()
			c.calls[label]++
			c.mu.Unlock()
			out, md, err := next.HandleInitialize(ctx, in)
			end := time.Now()
			c.mu.Lock()
			sp, ok := c.spans[op]
			if !ok || start.Before(sp[0]) {
				sp[0] = start
			}
			if end.After(sp[1]) {
				sp[1] = end
			}
			c.spans[op] = sp
			c.mu.Unlock()
			return out, md, err
		}), middleware.Before); err != nil {
		return err
	}
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("offpushCountAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			c.attempts++
			c.mu.Unlock()
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// itemKind names what a single-item call reads or writes: the first part
// of its partition key ("cert", "claim", "vtoken#huawei", "vtoken#quota").
func itemKind(params any) string {
	var key map[string]types.AttributeValue
	switch in := params.(type) {
	case *dynamodb.GetItemInput:
		key = in.Key
	case *dynamodb.PutItemInput:
		key = in.Item
	case *dynamodb.UpdateItemInput:
		key = in.Key
	case *dynamodb.DeleteItemInput:
		key = in.Key
	default:
		return ""
	}
	pk, ok := key["pk"].(*types.AttributeValueMemberS)
	if !ok {
		return "users"
	}
	parts := strings.SplitN(pk.Value, "#", 3)
	if parts[0] == "vtoken" && len(parts) > 1 {
		return "vtoken#" + parts[1]
	}
	return parts[0]
}

// take returns the counts since the last take and starts again.
func (c *callCounter) take() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, attempts := c.calls, c.attempts
	c.calls, c.attempts, c.spans = map[string]int{}, 0, map[string][2]time.Time{}
	return calls, attempts
}

// span is how long op's calls took since the last take, first start to
// last end.
func (c *callCounter) span(op string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	sp := c.spans[op]
	return sp[1].Sub(sp[0])
}

// addCounts adds b's counts to a.
func addCounts(a, b map[string]int) {
	for k, v := range b {
		a[k] += v
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func describeCalls(m map[string]int, per int) string {
	var parts []string
	for op, n := range m {
		parts = append(parts, fmt.Sprintf("%s %.1f", op, float64(n)/float64(per)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// batchFixture is the warm container the benchmark runs in: built once per
// test process, as the mock process and the 600 devices take seconds.
type batchFixture struct {
	dl      *delivery.Deliverer
	users   []string
	devices int
	calls   *callCounter
	mocks   *benchMocks
	cold    string // what the first (cold) batch cost
}

var batchBench struct {
	once sync.Once
	f    *batchFixture
	err  error
}

func newBatchFixture(b *testing.B) (*batchFixture, error) {
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	mocks, err := startBenchMocks(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	f := &batchFixture{mocks: mocks, calls: &callCounter{calls: map[string]int{}, spans: map[string][2]time.Time{}}}
	db := dynamolocal.Client(b, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, f.calls.register) })
	prefix := dynamolocal.UniquePrefix()
	if err := dynamo.CreateTables(ctx, db, prefix); err != nil {
		return nil, fmt.Errorf("create tables: %w", err)
	}
	st := dynamo.New(db, prefix, store.Options{})

	// One certificate per vendor, as the admin registers them.
	certs := []cert.Certificate{
		{Vendor: dev.APNs, APNs: &cert.APNs{Environment: cert.Production, BundleID: pushBundleID, TeamID: pushTeamID, KeyID: pushKeyID,
			PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))}},
		{Vendor: dev.FCM, FCM: &cert.FCM{ServiceAccountJSON: mocks.ServiceAccountJSON}, DefaultChannelID: "chat_default"},
		{Vendor: dev.Huawei, Huawei: &cert.Huawei{AppID: huaweiAppID, AppSecret: huaweiSecret}, BadgeClass: badgeClass},
		{Vendor: dev.Honor, Honor: &cert.Honor{AppID: honorAppID, ClientID: honorClientID, ClientSecret: honorSecret}, BadgeClass: badgeClass},
		{Vendor: dev.Xiaomi, Xiaomi: &cert.Xiaomi{AppSecret: xiaomiSecret, PackageName: xiaomiPackage, Region: cert.RegionChina}},
		{Vendor: dev.OPPO, OPPO: &cert.OPPO{AppKey: oppoAppKey, MasterSecret: oppoSecret}, DefaultChannelID: "chat_messages"},
		{Vendor: dev.Vivo, Vivo: &cert.Vivo{AppID: vivoAppID, AppKey: vivoAppKey, AppSecret: vivoSecret}},
		{Vendor: dev.Meizu, Meizu: &cert.Meizu{AppID: meizuAppID, AppSecret: meizuSecret}},
	}
	certIDs := map[dev.Vendor]int64{}
	for _, c := range certs {
		c.ID = vendorCertIDs[string(c.Vendor)]
		c.Name = "bench-" + string(c.Vendor)
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", c.Vendor, err)
		}
		if _, err := st.CreateCertificate(ctx, c); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", c.Vendor, err)
		}
		certIDs[c.Vendor] = c.ID
	}

	// 500 users, 600 devices, spread evenly over the eight vendors.
	var uploads []dev.Upload
	for i := range benchUsers {
		user := fmt.Sprintf("bench-user-%03d", i)
		f.users = append(f.users, user)
		for n, v := range []int{i, i + 3} {
			if n == 1 && i >= benchSecondUsers {
				break
			}
			vendor := dev.Vendors[v%len(dev.Vendors)]
			up := dev.Upload{UserID: user, DeviceID: fmt.Sprintf("d%d", n+1), CertificateID: certIDs[vendor], Platform: dev.Android, AppVersion: "2.3.0"}
			sum := sha256.Sum256([]byte(up.UserID + "/" + up.DeviceID))
			up.Token = string(vendor) + "-" + hex.EncodeToString(sum[:])
			if vendor == dev.APNs {
				up.Token, up.Platform = hex.EncodeToString(sum[:]), dev.IOS
			}
			uploads = append(uploads, up)
		}
	}
	f.devices = len(uploads)
	errs := make(chan error, len(uploads))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, up := range uploads {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := st.UpsertDevice(ctx, up); err != nil {
				errs <- fmt.Errorf("upload %s/%s: %w", up.UserID, up.DeviceID, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}

	// The container's push path, as pushservice.New wires it.
	vars := map[string]string{"OFFPUSH_VENDOR_CA_FILE": mocks.caFile}
	for k, v := range mocks.Env {
		vars[k] = v
	}
	quiet := slog.New(slog.DiscardHandler)
	venv, err := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{Tokens: st, Log: quiet})
	if err != nil {
		return nil, err
	}
	f.dl = delivery.New(delivery.Config{Store: st, Clients: vendors.NewClients(venv, nil), Log: quiet})

	// The first batch is a cold container's: certificates, vendor access
	// tokens, TLS connections.
	f.calls.take()
	start := time.Now()
	if err := f.deliver(ctx, "bench-cold"); err != nil {
		return nil, fmt.Errorf("cold batch: %w", err)
	}
	calls, attempts := f.calls.take()
	f.cold = fmt.Sprintf("cold batch: %s wall, %d DynamoDB calls (%s), %d attempts", time.Since(start).Round(time.Millisecond),
		total(calls), describeCalls(calls, 1), attempts)
	return f, nil
}

// deliver pushes one message to the batch's users and checks every device
// got it.
func (f *batchFixture) deliver(ctx context.Context, id string) error {
	m := &push.Message{ID: id, Type: push.Text, From: "admin", FromNickname: "Support", TTL: 24 * time.Hour,
		Info: push.OfflinePushInfo{Desc: "You have a new message", Ext: `{"conversationID":"c2c_admin"}`,
			AndroidInfo: push.AndroidInfo{HuaweiCategory: "IM", VivoCategory: "IM", VivoClassification: ptrInt(1)}}}
	resp, err := f.dl.Deliver(ctx, m, f.users, delivery.Options{})
	if err != nil {
		return err
	}
	if s := resp.Summary; s.Users != benchUsers || s.Devices != f.devices || s.Sent != f.devices {
		for _, u := range resp.Results {
			for _, d := range u.Devices {
				if d.Outcome != delivery.Sent {
					return fmt.Errorf("summary %+v; %s/%s (%s): %s %s %s", s, u.UserID, d.DeviceID, d.Vendor, d.Outcome, d.Reason, d.Detail)
				}
			}
		}
		return fmt.Errorf("summary %+v, want %d users and %d devices sent", s, benchUsers, f.devices)
	}
	return nil
}

// BenchmarkBatch500 reports, per 500-user batch of 600 devices:
//
//	wall-ms/batch       time of one Deliver call (read, decide, send, record)
//	cpu-µs/push         this process's user+system CPU per device pushed:
//	                    offpush's own work (the mocks and DynamoDB Local run
//	                    in other processes)
//	mock-cpu-µs/push    the mock process's CPU per device, for scale only
//	ddb-calls/batch     DynamoDB API calls (the breakdown is logged)
//	ddb-read-ms/batch   the span of the batch's BatchGetItem calls (parallel)
//	ddb-write-ms/batch  the span of its TransactWriteItems calls (parallel)
//	send-ms/batch       the rest of the wall time: deciding, building and
//	                    sending the vendor requests (30 ms round trips)
//	peak-rss-MB         the process's peak resident set during the batches
//	                    (VmHWM, reset before them)
//	peak-rss-delta-MB   that peak less the resident set before the batches
//
// The targets of the issue: ≤ 300 ms wall, ≤ 100 µs CPU per push, ≤ 8
// DynamoDB calls per batch.
func BenchmarkBatch500(b *testing.B) {
	dynamolocal.Endpoint(b) // skips, or fails when required, without DynamoDB Local
	batchBench.once.Do(func() { batchBench.f, batchBench.err = newBatchFixture(b) })
	if batchBench.err != nil {
		b.Fatal(batchBench.err)
	}
	f := batchBench.f
	lambdagc.Apply(b, lambdagc.MessagePushMemoryMB)
	ctx := context.Background()
	mocksBefore, err := f.mocks.report()
	if err != nil {
		b.Fatalf("mock process: %v", err)
	}
	f.calls.take()
	resetPeakRSS()
	rssBefore := statusKB("VmRSS")
	cpuBefore := processCPU()
	var wall, reads, writes time.Duration
	calls, attempts := map[string]int{}, 0
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := f.deliver(ctx, fmt.Sprintf("bench-%d-%d", b.N, i)); err != nil {
			b.Fatal(err)
		}
		wall += time.Since(start)
		reads += f.calls.span("BatchGetItem")
		writes += f.calls.span("TransactWriteItems")
		c, a := f.calls.take()
		addCounts(calls, c)
		attempts += a
	}
	b.StopTimer()
	cpu := processCPU() - cpuBefore
	peak := statusKB("VmHWM")
	mocksAfter, err := f.mocks.report()
	if err != nil {
		b.Fatalf("mock process: %v", err)
	}
	for _, fail := range mocksAfter.Failures {
		b.Errorf("vendor mock: %s", fail)
	}
	pushes := float64(b.N * f.devices)
	b.ReportMetric(float64(wall.Microseconds())/1000/float64(b.N), "wall-ms/batch")
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/pushes, "cpu-µs/push")
	b.ReportMetric(float64((mocksAfter.CPU-mocksBefore.CPU).Nanoseconds())/1000/pushes, "mock-cpu-µs/push")
	b.ReportMetric(float64(total(calls))/float64(b.N), "ddb-calls/batch")
	b.ReportMetric(float64(reads.Microseconds())/1000/float64(b.N), "ddb-read-ms/batch")
	b.ReportMetric(float64(writes.Microseconds())/1000/float64(b.N), "ddb-write-ms/batch")
	b.ReportMetric(float64((wall-reads-writes).Microseconds())/1000/float64(b.N), "send-ms/batch")
	b.ReportMetric(float64(peak)/1024, "peak-rss-MB")
	b.ReportMetric(float64(peak-rssBefore)/1024, "peak-rss-delta-MB")
	var requests []string
	for _, v := range pushVendors {
		requests = append(requests, fmt.Sprintf("%s %.1f", v, float64(mocksAfter.Requests[v]-mocksBefore.Requests[v])/float64(b.N)))
	}
	b.Logf("%s", f.cold)
	b.Logf("N=%d, %d users, %d devices a batch, GOMAXPROCS %d; DynamoDB calls a batch: %s (%.1f HTTP attempts); vendor requests a batch: %s",
		b.N, benchUsers, f.devices, runtime.GOMAXPROCS(0), describeCalls(calls, b.N), float64(attempts)/float64(b.N), strings.Join(requests, ", "))
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS makes VmHWM start again from the current resident set
// (Linux 4.0 and later).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// statusKB reads a kB field of /proc/self/status.
func statusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
