package httpapi

import (
	"net/http"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
)

// DeviceStore is what the app routes need of the store.
type DeviceStore interface {
	UpsertDevice(ctx ctx, up device.Upload) (device.Device, error)
	ClearDevice(ctx ctx, userID, deviceID string) error
	SetDeviceState(ctx ctx, userID, deviceID string, sc device.StateChange) (device.Device, error)
	ListDevices(ctx ctx, userID string) ([]device.Device, error)
}

var _ DeviceStore = store.Store(nil)

// UploadRequest is the body of PUT /v1/devices/{deviceId}.
type UploadRequest struct {
	CertificateID *int64          `json:"certificateId"`
	Token         string          `json:"token"`
	Platform      device.Platform `json:"platform"`
	AppVersion    string          `json:"appVersion"`
	Locale        string          `json:"locale"`
	Timezone      string          `json:"timezone"`
}

// StateRequest is the body of PUT /v1/devices/{deviceId}/state.
type StateRequest struct {
	State       device.State `json:"state"`
	UnreadCount *int         `json:"unreadCount"`
}

// DecodeUpload decodes and checks an upload body for user and device.
func DecodeUpload(body []byte, userID, deviceID string) (device.Upload, error) {
	var req UploadRequest
	if err := DecodeBytes(body, &req, false); err != nil {
		return device.Upload{}, err
	}
	return req.upload(userID, deviceID)
}

func (req UploadRequest) upload(userID, deviceID string) (device.Upload, error) {
	if req.CertificateID == nil {
		return device.Upload{}, device.Invalid("certificateId", "is required")
	}
	up := device.Upload{
		UserID: userID, DeviceID: deviceID, CertificateID: *req.CertificateID, Token: req.Token,
		Platform: req.Platform, AppVersion: req.AppVersion, Locale: req.Locale, Timezone: req.Timezone,
	}
	return up, up.Validate()
}

// deviceID reads and checks the {deviceId} path parameter.
func deviceID(r *http.Request) (string, error) {
	id := r.PathValue("deviceId")
	return id, device.ValidateDeviceID("deviceId", id)
}

// uploadDevice serves PUT /v1/devices/{deviceId}: create or replace the
// device's token.
func uploadDevice(s DeviceStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := deviceID(r)
		if err != nil {
			return err
		}
		var req UploadRequest
		if err := Decode(w, r, &req, DecodeOptions{Limit: AppBodyLimit}); err != nil {
			return err
		}
		up, err := req.upload(UserID(r.Context()), id)
		if err != nil {
			return err
		}
		d, err := s.UpsertDevice(r.Context(), up)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, DeviceView(d))
		return nil
	}
}

// clearDevice serves DELETE /v1/devices/{deviceId}: logout or clearToken.
func clearDevice(s DeviceStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := deviceID(r)
		if err != nil {
			return err
		}
		if err := s.ClearDevice(r.Context(), UserID(r.Context()), id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// setState serves PUT /v1/devices/{deviceId}/state.
func setState(s DeviceStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := deviceID(r)
		if err != nil {
			return err
		}
		var req StateRequest
		if err := Decode(w, r, &req, DecodeOptions{Limit: AppBodyLimit}); err != nil {
			return err
		}
		sc := device.StateChange{State: req.State, UnreadCount: req.UnreadCount}
		if err := sc.Validate(); err != nil {
			return err
		}
		d, err := s.SetDeviceState(r.Context(), UserID(r.Context()), id, sc)
		if err != nil {
			if isNotFound(err) {
				return NotFound("no device %q for this user", id)
			}
			return err
		}
		WriteJSON(w, http.StatusOK, DeviceView(d))
		return nil
	}
}

// listDevices serves GET /v1/devices: the caller's own devices.
func listDevices(s DeviceStore) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ds, err := s.ListDevices(r.Context(), UserID(r.Context()))
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, map[string]any{"devices": DeviceViews(ds)})
		return nil
	}
}
