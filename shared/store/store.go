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

	// PutJob stores a bulk job (a broadcast run) whole, replacing any with
	// its ID: content, audience, status and counters.
	PutJob(ctx context.Context, j Job) error
	// GetJob returns a bulk job, or ErrNotFound.
	GetJob(ctx context.Context, id string) (Job, error)
	// ListJobs returns up to limit jobs, newest first, of one status or
	// (status "") all.
	ListJobs(ctx context.Context, status JobStatus, limit int) ([]Job, error)
	// SetJobStatus moves a job to status to if its status is one of from,
	// and returns it after the change; ErrConflict if it is not, ErrNotFound
	// if there is no job. A zero time in at leaves that timestamp alone.
	SetJobStatus(ctx context.Context, id string, from []JobStatus, to JobStatus, at time.Time) (Job, error)
	// AddJobCounts adds delta to the job's counters atomically and returns
	// the job after it.
	AddJobCounts(ctx context.Context, id string, delta JobCounts) (Job, error)
	// FinishPlanning marks that every batch of the job is enqueued.
	FinishPlanning(ctx context.Context, id string) (Job, error)

	// GetCheckpoint returns the planner's progress on one segment of a job
	// (zero if it has none).
	GetCheckpoint(ctx context.Context, jobID string, segment int) (Checkpoint, error)
	// SaveCheckpoint records progress, only if the stored NextBatch is still
	// expected (ErrConflict otherwise: another planner moved on).
	SaveCheckpoint(ctx context.Context, jobID string, segment int, expected int64, cp Checkpoint) error
	// PutJobUsers stores chunk n of an explicit audience list.
	PutJobUsers(ctx context.Context, jobID string, n int, users []string) error
	// GetJobUsers returns chunk n of an explicit audience list (nil past the end).
	GetJobUsers(ctx context.Context, jobID string, n int) ([]string, error)

	// UpdateTags adds and removes tags of a user (creating the user if need
	// be) and keeps the tag index; ErrLimit past MaxTags.
	UpdateTags(ctx context.Context, userID string, add, remove []string) ([]string, error)
	// UpdateAttributes sets (or, for nil, deletes) attributes of a user and
	// keeps the attribute index; ErrLimit when a new name would make more
	// than MaxAttributeNames in the deployment.
	UpdateAttributes(ctx context.Context, userID string, set map[string]*string) (map[string]string, error)
	// ScanUserIDs reads one segment of all users, in pages of up to limit
	// IDs; cursor "" starts, and a returned next of "" means the segment is
	// done. Segments split users by a stable hash of their ID.
	ScanUserIDs(ctx context.Context, segment, segments int, cursor string, limit int) (ids []string, next string, err error)
	// IndexUserIDs returns up to limit user IDs with the tag or attribute
	// value key (TagKey, AttributeKey), in ascending order, after the ID
	// after; next is "" at the end.
	IndexUserIDs(ctx context.Context, key, after string, limit int) (ids []string, next string, err error)

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
// delivers, and the broadcast it runs.
type Job struct {
	ID      string       `json:"id"`
	Message push.Message `json:"message"`
	// Spec is the broadcast as requested (audience, schedule), opaque here.
	Spec   []byte    `json:"spec,omitempty"`
	Status JobStatus `json:"status,omitempty"`
	Counts JobCounts `json:"counts"`
	// Planned is set once every batch is enqueued.
	Planned     bool       `json:"planned,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
}

// JobStatus is where a broadcast run is.
type JobStatus string

// Job statuses.
const (
	JobScheduled JobStatus = "scheduled"
	JobPlanning  JobStatus = "planning"
	JobSending   JobStatus = "sending"
	JobCompleted JobStatus = "completed"
	JobCancelled JobStatus = "cancelled"
	JobFailed    JobStatus = "failed"
)

// JobCounts are a broadcast's counters.
type JobCounts struct {
	Users         int64 `json:"users"`
	Batches       int64 `json:"batches"`
	BatchesDone   int64 `json:"batchesDone"`
	Devices       int64 `json:"devices"`
	Sent          int64 `json:"sent"`
	Skipped       int64 `json:"skipped"`
	Failed        int64 `json:"failed"`
	InvalidTokens int64 `json:"invalidTokens"`
}

// Checkpoint is a planner's progress on one audience segment.
type Checkpoint struct {
	// Cursor is where the segment's reading continues (store-defined).
	Cursor string `json:"cursor"`
	// NextBatch is the number of the next batch to enqueue.
	NextBatch int64 `json:"nextBatch"`
	// Done: the segment is fully enqueued.
	Done bool `json:"done"`
}

// Limits of tags and attributes.
const (
	MaxTags           = 100
	MaxTagBytes       = 50
	MaxAttributeNames = 10
	MaxAttributeBytes = 50
)

// Errors of the broadcast surface.
var (
	// ErrConflict: a conditional change found the record in another state.
	ErrConflict = errors.New("conflict")
	// ErrLimit: a tag or attribute limit would be exceeded.
	ErrLimit = errors.New("limit exceeded")
)

// TagKey is the index key of a tag.
func TagKey(tag string) string { return "tag#" + tag }

// AttributeKey is the index key of an attribute value.
func AttributeKey(name, value string) string { return "attr#" + name + "=" + value }

// Segment is the scan segment of a user among segments, a stable hash.
func Segment(userID string, segments int) int {
	h := uint32(2166136261)
	for i := 0; i < len(userID); i++ {
		h ^= uint32(userID[i])
		h *= 16777619
	}
	return int(h % uint32(segments))
}

// JobRetention is how long a job is kept once it runs (a scheduled job is
// kept until it does).
const JobRetention = 14 * 24 * time.Hour

// ListRetention is how long an explicit audience list is kept: beyond the
// latest sendAt (a year ahead), it bounds a campaign with a list.
const ListRetention = 400 * 24 * time.Hour

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
