package lambdart

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The Runtime API's paths and headers.
const (
	apiBase = "/2018-06-01/runtime"

	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
	// A runtime whose response stream fails part way sends these trailers
	// (aws-lambda-go does).
	trailerErrorType = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody = "Lambda-Runtime-Function-Error-Body"

	// maxResponseSize is Lambda's limit on a synchronous response.
	maxResponseSize = 6 << 20
)

// sandbox is one process of a function and the Runtime API server it talks
// to. Each process gets its own server, so nothing a killed process left
// behind (a request still blocked in /next) can take its successor's event.
type sandbox struct {
	f          *Function
	cmd        *exec.Cmd
	srv        *http.Server
	started    time.Time
	queue      chan *invocation // the event waiting for /next; room for one
	exited     chan struct{}    // closed when the process has exited
	exitErr    error            // cmd.Wait's error, set before exited is closed
	initFailed chan struct{}    // closed when the runtime posts /init/error
	stopOnce   sync.Once

	mu       sync.Mutex
	inited   bool // the runtime asked for an event: its init is over
	initErr  *Error
	current  *invocation // the event the runtime is working on
	served   int         // events handed to the runtime
	reported bool        // an invocation has reported this process's failure
}

// spawn starts a fresh process with its own Runtime API server. f.mu is held.
func (f *Function) spawn() (*sandbox, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start %s: runtime API listener: %w", f.name, err)
	}
	sb := &sandbox{
		f:          f,
		queue:      make(chan *invocation, 1),
		exited:     make(chan struct{}),
		initFailed: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiBase+"/invocation/next", sb.handleNext)
	mux.HandleFunc("POST "+apiBase+"/invocation/{id}/response", sb.handleResponse)
	mux.HandleFunc("POST "+apiBase+"/invocation/{id}/error", sb.handleError)
	mux.HandleFunc("POST "+apiBase+"/init/error", sb.handleInitError)
	sb.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go sb.srv.Serve(ln)

	cmd := exec.Command(f.binary)
	cmd.Dir = filepath.Dir(f.binary)
	cmd.Env = append(slices.Clone(f.env),
		"AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(),
		"AWS_LAMBDA_LOG_STREAM_NAME="+newLogStreamName())
	cmd.Stdout = f.logFile
	cmd.Stderr = f.logFile
	cmd.SysProcAttr = sysProcAttr()
	sb.started = time.Now()
	if err := cmd.Start(); err != nil {
		sb.srv.Close()
		return nil, fmt.Errorf("start %s: %w", f.binary, err)
	}
	sb.cmd = cmd
	go func() {
		sb.exitErr = cmd.Wait()
		close(sb.exited)
	}()
	return sb, nil
}

// stop kills the process and closes its server.
func (sb *sandbox) stop() {
	sb.stopOnce.Do(func() {
		sb.cmd.Process.Kill()
		<-sb.exited
		sb.srv.Close()
	})
}

func (sb *sandbox) hasExited() bool { return isClosed(sb.exited) }

// failed reports whether the process can serve no more events.
func (sb *sandbox) failed() bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.initErr != nil || sb.hasExited()
}

func (sb *sandbox) initDone() bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.inited
}

// servedAny reports whether the process took any event.
func (sb *sandbox) servedAny() bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.served > 0
}

func (sb *sandbox) markReported() {
	sb.mu.Lock()
	sb.reported = true
	sb.mu.Unlock()
}

// unreportedInitFailure returns, once, the failure of a process that failed
// before it served any event, as the outcome of invocation id.
func (sb *sandbox) unreportedInitFailure(id string) *Error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.reported || sb.served > 0 {
		return nil
	}
	switch {
	case sb.initErr != nil:
		sb.reported = true
		e := *sb.initErr
		e.RequestID = id
		return &e
	case sb.hasExited():
		sb.reported = true
		return sb.exitError(id, true)
	}
	return nil
}

// initError returns the error the runtime posted to /init/error, or nil.
func (sb *sandbox) initError(id string) *Error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.initErr == nil {
		return nil
	}
	e := *sb.initErr
	e.RequestID = id
	return &e
}

// exitError is Lambda's report of a process that exited before it answered.
// Call it after exited is closed.
func (sb *sandbox) exitError(id string, init bool) *Error {
	msg := "Runtime exited without providing a reason"
	if sb.exitErr != nil {
		msg = "Runtime exited with error: " + sb.exitErr.Error()
	}
	return &Error{Type: ErrorTypeExit, Message: msg, Init: init, RequestID: id}
}

// take returns the invocation in progress if its ID is id, and clears it so
// that it gets one outcome only.
func (sb *sandbox) take(id string) *invocation {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.current == nil || sb.current.id != id {
		return nil
	}
	inv := sb.current
	sb.current = nil
	return inv
}

// handleNext serves GET /runtime/invocation/next: it blocks until an event
// is queued and replies with the event and its context headers.
func (sb *sandbox) handleNext(w http.ResponseWriter, r *http.Request) {
	sb.mu.Lock()
	sb.inited = true
	sb.mu.Unlock()
	select {
	case inv := <-sb.queue:
		inv.deadline = time.Now().Add(inv.timeout)
		sb.mu.Lock()
		sb.current = inv
		sb.served++
		sb.mu.Unlock()
		close(inv.dispatched)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set(headerRequestID, inv.id)
		h.Set(headerDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set(headerFunctionARN, sb.f.arn)
		h.Set(headerTraceID, newTraceID())
		w.WriteHeader(http.StatusOK)
		w.Write(inv.event)
	case <-r.Context().Done():
		// The process went away, or the server is closing.
	}
}

// handleResponse serves POST /runtime/invocation/{id}/response.
func (sb *sandbox) handleResponse(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	inv := sb.take(id)
	if inv == nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in progress has request ID "+id)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxResponseSize))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		inv.done <- result{err: &Error{Type: ErrorTypeResponseTooLarge,
			Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxResponseSize)}}
		writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response payload too large")
		return
	case err != nil:
		inv.done <- result{err: &Error{Type: ErrorTypeUnknown, Message: "reading the function's response failed: " + err.Error()}}
		writeAPIError(w, http.StatusBadRequest, "InvalidResponse", "could not read the response")
		return
	}
	if t := r.Trailer.Get(trailerErrorType); t != "" {
		inv.done <- result{err: trailerError(t, r.Trailer.Get(trailerErrorBody))}
		writeAccepted(w)
		return
	}
	if body == nil {
		body = []byte{}
	}
	inv.done <- result{payload: body}
	writeAccepted(w)
}

// handleError serves POST /runtime/invocation/{id}/error.
func (sb *sandbox) handleError(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	inv := sb.take(id)
	if inv == nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in progress has request ID "+id)
		return
	}
	inv.done <- result{err: readError(r)}
	writeAccepted(w)
}

// handleInitError serves POST /runtime/init/error, allowed only before the
// runtime's first /next.
func (sb *sandbox) handleInitError(w http.ResponseWriter, r *http.Request) {
	e := readError(r)
	e.Init = true
	sb.mu.Lock()
	if sb.inited || sb.initErr != nil {
		sb.mu.Unlock()
		writeAPIError(w, http.StatusForbidden, "InvalidStateTransition", "init/error is only accepted before the first /runtime/invocation/next")
		return
	}
	sb.initErr = e
	sb.mu.Unlock()
	close(sb.initFailed)
	writeAccepted(w)
}

// readError reads a posted error: {"errorMessage", "errorType",
// "stackTrace"}, the type possibly in the Lambda-Runtime-Function-Error-Type
// header instead.
func readError(r *http.Request) *Error {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxResponseSize))
	e := &Error{}
	if err := json.Unmarshal(body, e); err != nil || (e.Type == "" && e.Message == "") {
		e = &Error{Message: string(body)}
	}
	if e.Type == "" {
		e.Type = r.Header.Get(headerErrorType)
	}
	if e.Type == "" {
		e.Type = ErrorTypeUnknown
	}
	return e
}

// trailerError decodes the error a runtime sends in trailers when its
// response stream fails.
func trailerError(typ, b64 string) *Error {
	e := &Error{}
	body, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || json.Unmarshal(body, e) != nil {
		e = &Error{}
	}
	if e.Type == "" {
		e.Type = typ
	}
	return e
}

func writeAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

func writeAPIError(w http.ResponseWriter, status int, typ, msg string) {
	body, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
