package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/offpush/offpush/shared/broadcast"
	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
)

type ctx = context.Context

// AdminStore is what the admin routes need of the store.
type AdminStore interface {
	CreateCertificate(ctx ctx, c cert.Certificate) (cert.Certificate, error)
	GetCertificate(ctx ctx, id int64) (cert.Certificate, error)
	ListCertificates(ctx ctx) ([]cert.Certificate, error)
	ReplaceCertificate(ctx ctx, c cert.Certificate) (cert.Certificate, error)
	DeleteCertificate(ctx ctx, id int64) error
	GetUser(ctx ctx, userID string) (device.User, error)
	KickDevices(ctx ctx, userID, keepDeviceID string) ([]device.Device, error)
	UpdateTags(ctx ctx, userID string, add, remove []string) ([]string, error)
	UpdateAttributes(ctx ctx, userID string, set map[string]*string) (map[string]string, error)
}

var _ AdminStore = store.Store(nil)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// certificateID reads the {id} path parameter.
func certificateID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, BadRequest("id", "must be an integer certificate ID")
	}
	return id, device.ValidateCertificateID("id", id)
}

// decodeCertificate reads a certificate body, dropping the fields the server
// derives so that a client cannot set them.
func decodeCertificate(w http.ResponseWriter, r *http.Request) (cert.Certificate, error) {
	var c cert.Certificate
	if err := Decode(w, r, &c, DecodeOptions{Limit: AdminBodyLimit, Strict: true}); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = time.Time{}, time.Time{}
	return c, nil
}

func createCertificate(s AdminStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := decodeCertificate(w, r)
		if err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return err
		}
		saved, err := s.CreateCertificate(r.Context(), c)
		if errors.Is(err, store.ErrExists) {
			return Conflict("id", "certificate %d already exists", c.ID)
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusCreated, saved.Redacted())
		return nil
	}
}

func listCertificates(s AdminStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.ListCertificates(r.Context())
		if err != nil {
			return err
		}
		out := make([]cert.Certificate, 0, len(list))
		for _, c := range list {
			out = append(out, c.Redacted())
		}
		WriteJSON(w, http.StatusOK, map[string]any{"certificates": out})
		return nil
	}
}

func getCertificate(s AdminStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := certificateID(r)
		if err != nil {
			return err
		}
		c, err := s.GetCertificate(r.Context(), id)
		if isNotFound(err) {
			return NotFound("no certificate %d", id)
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, c.Redacted())
		return nil
	}
}

// replaceCertificate serves PUT /v1/certificates/{id}. Secrets left empty
// keep their stored values, so names and defaults can change without
// resending keys. The vendor cannot change: devices hold that vendor's tokens.
func replaceCertificate(s AdminStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := certificateID(r)
		if err != nil {
			return err
		}
		c, err := decodeCertificate(w, r)
		if err != nil {
			return err
		}
		if c.ID != 0 && c.ID != id {
			return BadRequest("id", "must match the certificate ID in the path (%d)", id)
		}
		c.ID = id
		old, err := s.GetCertificate(r.Context(), id)
		if isNotFound(err) {
			return NotFound("no certificate %d", id)
		}
		if err != nil {
			return err
		}
		if c.Vendor != old.Vendor {
			return BadRequest("vendor", "cannot change from %s; register a new certificate instead", old.Vendor)
		}
		c.KeepSecretsFrom(old)
		if err := c.Validate(); err != nil {
			return err
		}
		saved, err := s.ReplaceCertificate(r.Context(), c)
		if isNotFound(err) {
			return NotFound("no certificate %d", id)
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, saved.Redacted())
		return nil
	}
}

func deleteCertificate(s AdminStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := certificateID(r)
		if err != nil {
			return err
		}
		err = s.DeleteCertificate(r.Context(), id)
		if isNotFound(err) {
			return NotFound("no certificate %d", id)
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// UserView is the push check: what offpush knows of a user and each device.
type UserView struct {
	UserID     string            `json:"userId"`
	Tags       []string          `json:"tags"`
	Attributes map[string]string `json:"attributes"`
	Devices    []UserDevice      `json:"devices"`
}

// UserDevice is a device in the push check, with its last push result.
type UserDevice struct {
	Device
	// LastResult is the device's last push outcome; null until one is recorded.
	LastResult *device.LastResult `json:"lastResult"`
}

func userID(r *http.Request) (string, error) {
	id := r.PathValue("userId")
	return id, device.ValidateUserID("userId", id)
}

func getUser(s AdminStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := userID(r)
		if err != nil {
			return err
		}
		u, err := s.GetUser(r.Context(), id)
		if isNotFound(err) {
			return NotFound("no user %q", id)
		}
		if err != nil {
			return err
		}
		v := UserView{UserID: u.UserID, Tags: u.Tags, Attributes: u.Attributes, Devices: make([]UserDevice, 0, len(u.Devices))}
		for _, d := range u.Devices {
			v.Devices = append(v.Devices, UserDevice{Device: DeviceView(d), LastResult: d.LastResult})
		}
		WriteJSON(w, http.StatusOK, v)
		return nil
	}
}

// KickRequest is the body of POST /v1/users/{userId}/kick.
type KickRequest struct {
	KeepDeviceID string `json:"keepDeviceId"`
}

func kickUser(s AdminStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := userID(r)
		if err != nil {
			return err
		}
		var req KickRequest
		if err := Decode(w, r, &req, DecodeOptions{Limit: AdminBodyLimit, Strict: true, Optional: true}); err != nil {
			return err
		}
		if req.KeepDeviceID != "" {
			if err := device.ValidateDeviceID("keepDeviceId", req.KeepDeviceID); err != nil {
				return err
			}
		}
		devs, err := s.KickDevices(r.Context(), id, req.KeepDeviceID)
		if isNotFound(err) {
			if req.KeepDeviceID != "" {
				if _, uerr := s.GetUser(r.Context(), id); uerr == nil {
					return NotFound("user %q has no device %q", id, req.KeepDeviceID)
				}
			}
			return NotFound("no user %q", id)
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, map[string]any{"devices": DeviceViews(devs)})
		return nil
	}
}

// TagsRequest is the body of PUT /v1/users/{userId}/tags.
type TagsRequest struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

func updateTags(s AdminStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := userID(r)
		if err != nil {
			return err
		}
		var req TagsRequest
		if err := Decode(w, r, &req, DecodeOptions{Limit: AdminBodyLimit, Strict: true}); err != nil {
			return err
		}
		for field, list := range map[string][]string{"add": req.Add, "remove": req.Remove} {
			if len(list) > store.MaxTags {
				return BadRequest(field, "must list at most %d tags", store.MaxTags)
			}
			for i, t := range list {
				if err := broadcast.ValidateTag(field+"["+strconv.Itoa(i)+"]", t); err != nil {
					return err
				}
			}
		}
		tags, err := s.UpdateTags(r.Context(), id, req.Add, req.Remove)
		if errors.Is(err, store.ErrLimit) {
			return BadRequest("add", "a user has at most %d tags", store.MaxTags)
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, map[string]any{"tags": tags})
		return nil
	}
}

// AttributesRequest is the body of PUT /v1/users/{userId}/attributes: a
// null value deletes the attribute.
type AttributesRequest struct {
	Attributes map[string]*string `json:"attributes"`
}

func updateAttributes(s AdminStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := userID(r)
		if err != nil {
			return err
		}
		var req AttributesRequest
		if err := Decode(w, r, &req, DecodeOptions{Limit: AdminBodyLimit, Strict: true}); err != nil {
			return err
		}
		if len(req.Attributes) == 0 {
			return BadRequest("attributes", "is required")
		}
		if len(req.Attributes) > store.MaxAttributeNames {
			return BadRequest("attributes", "must hold at most %d attributes", store.MaxAttributeNames)
		}
		for name, v := range req.Attributes {
			value := "-" // a deletion only needs a valid name
			if v != nil {
				value = *v
			}
			if err := broadcast.ValidateAttribute("attributes."+name, name, value); err != nil {
				return err
			}
		}
		attrs, err := s.UpdateAttributes(r.Context(), id, req.Attributes)
		if errors.Is(err, store.ErrLimit) {
			return BadRequest("attributes", "the deployment allows at most %d attribute names", store.MaxAttributeNames)
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, map[string]any{"attributes": attrs})
		return nil
	}
}

func health(w http.ResponseWriter, r *http.Request) error {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
