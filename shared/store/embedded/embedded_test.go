package embedded

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/storetest"
)

func TestConformanceMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		s := OpenMemory(opts)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestConformanceFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		s, err := OpenFile(filepath.Join(t.TempDir(), "data.db"), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestFileSurvivesReopen checks that a file store keeps its data across
// restarts of the local server.
func TestFileSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "data.db")
	ctx := context.Background()
	s, err := OpenFile(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "a", FCM: &cert.FCM{ProjectID: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertDevice(ctx, device.Upload{UserID: "alice", DeviceID: "d1", CertificateID: c.ID, Token: "tok-1", Platform: device.Android}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenFile(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	devs, err := s.ListDevices(ctx, "alice")
	if err != nil || len(devs) != 1 || devs[0].Token != "tok-1" {
		t.Fatalf("after reopen: %+v, %v", devs, err)
	}
	// The sequence survives too: the next assigned ID is new.
	c2, err := s.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "b", FCM: &cert.FCM{ProjectID: "p"}})
	if err != nil || c2.ID == c.ID {
		t.Fatalf("second certificate %d after %d: %v", c2.ID, c.ID, err)
	}
}

// TestFailedTransactionLeavesNothing checks that a rejected upload does not
// half-apply in the memory store's staged transaction.
func TestFailedTransactionLeavesNothing(t *testing.T) {
	m := newMemKV()
	err := m.update(func(t tx) error {
		if err := t.put(bucketUsers, "x", []byte("1")); err != nil {
			return err
		}
		return store.ErrNotFound
	})
	if err != store.ErrNotFound {
		t.Fatalf("update error = %v", err)
	}
	if err := m.view(func(t tx) error {
		if v := t.get(bucketUsers, "x"); v != nil {
			return store.ErrExists
		}
		return nil
	}); err != nil {
		t.Fatal("a failed transaction left its write behind")
	}
}

// TestCapturedRetention checks that captured requests older than the
// retention are dropped when new ones arrive.
func TestCapturedRetention(t *testing.T) {
	clock := storetest.NewClock()
	s := OpenMemory(store.Options{Now: clock.Now})
	ctx := context.Background()
	if err := s.SaveCaptured(ctx, []push.Captured{{Vendor: device.FCM, Target: "old", CapturedAt: clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(store.CapturedRetention + time.Minute)
	if err := s.SaveCaptured(ctx, []push.Captured{{Vendor: device.FCM, Target: "new", CapturedAt: clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListCaptured(ctx, "", 10)
	if err != nil || len(got) != 1 || got[0].Target != "new" {
		t.Fatalf("after retention: %+v, %v", got, err)
	}
}
