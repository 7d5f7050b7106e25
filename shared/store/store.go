// Package store defines what offpush keeps: devices grouped by user, the
// token → owner index that keeps a vendor token with one user at a time, and
// certificates. Two implementations meet the same contract, checked by one
// conformance suite (storetest): embedded (memory or a file, for the local
// server) and dynamo (DynamoDB, for Lambda).
package store

import (
	"context"
	"errors"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
)

// Errors every implementation returns, matched with errors.Is.
var (
	// ErrNotFound: no such device, user or certificate.
	ErrNotFound = errors.New("not found")
	// ErrExists: a certificate with that ID is already registered.
	ErrExists = errors.New("already exists")
	// ErrUnknownCertificate: an upload names a certificate that is not registered.
	ErrUnknownCertificate = errors.New("unknown certificate")
)

// Store is the persistence contract of offpush.
//
// Devices: a user's devices are read in one request. A token belongs to at
// most one user: when an upload carries a token another device holds, that
// device loses it (status logged_out) in the same transaction. A user has at
// most MaxDevices devices; an upload of a new one past the cap evicts the least
// recently updated. Devices expire device.TokenLifetime after their last
// upload: they are no longer returned, and the backing store deletes them.
type Store interface {
	// UpsertDevice creates the device or replaces its token, certificate and
	// details (an idempotent re-upload). It checks the certificate exists
	// (ErrUnknownCertificate) and the token suits the certificate's vendor
	// and the platform (*device.FieldError). A new device starts in the
	// background state; a re-upload keeps state and unread count and makes the
	// device active again.
	UpsertDevice(ctx context.Context, up device.Upload) (device.Device, error)
	// ClearDevice removes the device's token (logout, clearToken); the device
	// stays with status logged_out. Clearing a missing device is not an error.
	ClearDevice(ctx context.Context, userID, deviceID string) error
	// SetDeviceState records foreground/background and, if given, the unread
	// count. ErrNotFound if the user has no such device.
	SetDeviceState(ctx context.Context, userID, deviceID string, sc device.StateChange) (device.Device, error)
	// ListDevices returns the user's live devices, ordered by device ID; none
	// (and no error) for an unknown user.
	ListDevices(ctx context.Context, userID string) ([]device.Device, error)
	// GetUser returns the user's tags, attributes and devices; ErrNotFound if
	// the store has nothing for the user.
	GetUser(ctx context.Context, userID string) (device.User, error)
	// KickDevices marks every device of the user kicked, except keepDeviceID
	// if given, and returns the devices after the kick. Kicked devices keep
	// their token but get no push until they upload again. ErrNotFound for an
	// unknown user, or a keepDeviceID the user does not have.
	KickDevices(ctx context.Context, userID, keepDeviceID string) ([]device.Device, error)
	// IncrementUnread atomically adds one to the device's unread count and
	// returns the new count (the badge). ErrNotFound if there is no such device.
	IncrementUnread(ctx context.Context, userID, deviceID string) (int, error)

	// CreateCertificate registers c. An ID of 0 assigns the next free ID;
	// ErrExists if the ID is taken. The stored certificate is returned with
	// its secrets.
	CreateCertificate(ctx context.Context, c cert.Certificate) (cert.Certificate, error)
	// GetCertificate returns the certificate with its secrets, or ErrNotFound.
	GetCertificate(ctx context.Context, id int64) (cert.Certificate, error)
	// ListCertificates returns every certificate, ordered by ID.
	ListCertificates(ctx context.Context) ([]cert.Certificate, error)
	// ReplaceCertificate overwrites an existing certificate; ErrNotFound if
	// there is none with c.ID. CreatedAt is kept.
	ReplaceCertificate(ctx context.Context, c cert.Certificate) (cert.Certificate, error)
	// DeleteCertificate removes a certificate; ErrNotFound if there is none.
	// Devices that name it stay, and are skipped by pushes until re-uploaded.
	DeleteCertificate(ctx context.Context, id int64) error

	// GetUsers reads many users at once (a 500-user push batch in at most
	// five requests), in the order given; users the store does not know are
	// left out.
	GetUsers(ctx context.Context, userIDs []string) ([]device.User, error)
	// RecordResults stores each device's last push result and, where
	// asked, adds one to its unread count atomically. Devices removed since
	// they were read are skipped.
	RecordResults(ctx context.Context, updates []ResultUpdate) error
	// InvalidateToken removes a token the vendor declared dead: the device
	// gets status invalid and no token, and the token leaves the index. It
	// does nothing if the device no longer holds token (a fresh upload raced
	// the cleanup).
	InvalidateToken(ctx context.Context, userID, deviceID, token string) error

	// Claim takes the once-only record key until expiresAt: the first
	// caller gets Claimed; later ones get the record as it stands (Done and
	// Value once Complete ran). An expired record can be claimed again.
	Claim(ctx context.Context, key string, expiresAt time.Time) (Claim, error)
	// Complete marks a claimed record done with value.
	Complete(ctx context.Context, key string, value []byte, expiresAt time.Time) error

	// PutJob stores a bulk job's content once, for the SQS batches that
	// refer to it.
	PutJob(ctx context.Context, j Job) error
	// GetJob returns a bulk job, or ErrNotFound.
	GetJob(ctx context.Context, id string) (Job, error)

	// GetVendorToken returns the vendor access token stored under key and
	// its expiry, or "" if there is none or it has expired.
	GetVendorToken(ctx context.Context, key string) (token string, expiresAt time.Time, err error)
	// PutVendorToken stores a vendor access token until expiresAt.
	PutVendorToken(ctx context.Context, key, token string, expiresAt time.Time) error

	// SaveCaptured records requests that capture mode did not send. The
	// store keeps them for CapturedRetention (the embedded store also keeps
	// at most MaxCaptured).
	SaveCaptured(ctx context.Context, reqs []push.Captured) error
	// ListCaptured returns up to limit captured requests, newest first, of
	// one vendor or (vendor "") all.
	ListCaptured(ctx context.Context, vendor device.Vendor, limit int) ([]push.Captured, error)

	// Close releases the store's resources.
	Close() error
}

// ResultUpdate is what one push did to one user's devices.
type ResultUpdate struct {
	UserID  string
	Devices []DeviceResult
}

// DeviceResult is one device's push result to record.
type DeviceResult struct {
	DeviceID string
	Result   device.LastResult
	// CountUnread adds one to the device's unread count (badgeMode 0).
	CountUnread bool
}

// Job is a bulk push: the message, stored once, that every SQS batch of it
// delivers.
type Job struct {
	ID        string       `json:"id"`
	Message   push.Message `json:"message"`
	CreatedAt time.Time    `json:"createdAt"`
}

// JobRetention is how long a job's content is kept.
const JobRetention = 14 * 24 * time.Hour

// Claim is the state of a once-only record.
type Claim struct {
	// Claimed: this caller created (or took over an expired) record.
	Claimed bool
	// Done: the record was completed; Value holds what Complete stored.
	Done  bool
	Value []byte
}

// MaxClaimValue is the largest value Complete stores.
const MaxClaimValue = 350 << 10

// Retention of captured requests.
const (
	CapturedRetention = 7 * 24 * time.Hour
	MaxCaptured       = 10000
)

// Options tunes a store; the zero value gives the defaults.
type Options struct {
	// MaxDevices caps a user's devices (default device.DefaultMaxDevices).
	MaxDevices int
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// WithDefaults fills the zero fields of o.
func (o Options) WithDefaults() Options {
	if o.MaxDevices <= 0 {
		o.MaxDevices = device.DefaultMaxDevices
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// FirstCertificateID is the first ID assigned to a certificate created without one.
const FirstCertificateID = 10001
