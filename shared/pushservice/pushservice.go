// Package pushservice wires the push path from configuration: the vendor
// environment, one client per certificate (live or capturing), the delivery
// engine and the bulk-job worker. message-push and the local server build it
// once per process; it is the package that links the vendor SDKs, so the
// other functions never import it.
package pushservice

import (
	"github.com/offpush/offpush/shared/broadcast"
	"github.com/offpush/offpush/shared/config"
	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/vendors"
)

// Service is the wired push path.
type Service struct {
	Deliverer *delivery.Deliverer
	Clients   *vendors.Clients
	Vendors   *push.Env
}

// New wires the push path over st. In capture mode the vendor clients record
// their requests in st instead of sending.
func New(e *config.Env, st store.Store) (*Service, error) {
	venv, err := push.NewEnv(e.Getenv, push.EnvConfig{Tokens: st, Log: e.Log, Wrap: e.Tracer.HTTPClient})
	if err != nil {
		return nil, err
	}
	var capture push.CaptureStore
	if e.VendorMode == "capture" {
		capture = st
	}
	clients := vendors.NewClients(venv, capture)
	dl := delivery.New(delivery.Config{Store: st, Clients: clients, Log: e.Log})
	return &Service{Deliverer: dl, Clients: clients, Vendors: venv}, nil
}

// Worker builds the bulk-job worker over q: it keeps each broadcast's
// counters and drops the batches of cancelled ones.
func (s *Service) Worker(e *config.Env, st store.Store, q delivery.Queue) *delivery.Worker {
	progress := broadcast.NewProgress(st, nil)
	return delivery.NewWorker(s.Deliverer, delivery.WorkerConfig{Jobs: st, Queue: q, Progress: progress, Active: progress.Active,
		MaxAttempts: e.MaxAttempts})
}
