package store

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
)

// TokenKey is the index key of a vendor token: its SHA-256. Tokens are
// hashed because vendor tokens may be up to 4 KiB, more than a DynamoDB key
// may hold, and so that the index holds no token. The key does not name the
// vendor: the vendor is known only once the certificate is read, and an
// upload reads the token's owner in the same request; tokens of different
// vendors do not collide.
func TokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenOwner is the index entry of a token: which device holds it.
type TokenOwner struct {
	UserID   string
	DeviceID string
}

// UpsertPlan is everything one token upload changes. Both stores carry it out
// in one transaction.
type UpsertPlan struct {
	// Device is the uploaded device as it will be stored.
	Device device.Device
	// Put lists the devices of the uploading user to write: Device first,
	// then any other device of the same user that loses the token.
	Put []device.Device
	// Remove lists device IDs of the uploading user to delete: expired
	// devices and those evicted for the cap.
	Remove []string
	// Unindex lists token keys to delete from the index: the device's old
	// token, tokens of removed devices. Each is deleted only if it still
	// names the device it was read for.
	Unindex []IndexEntry
	// Index is the token key of the new token, to point at Device.
	Index string
	// Strip is set when another user's device holds the token: that device
	// loses it in the same transaction.
	Strip *TokenOwner
}

// IndexEntry is a token key with the device it is expected to name.
type IndexEntry struct {
	Key   string
	Owner TokenOwner
}

// PlanUpsert works out a token upload. current is every stored device of the
// user (expired ones too); owner is the token's current index entry, if any.
// It checks the token and platform against the certificate's vendor.
func PlanUpsert(current []device.Device, owner *TokenOwner, up device.Upload, c cert.Certificate, maxDevices int, now time.Time) (UpsertPlan, error) {
	if err := device.ValidateToken(c.Vendor, up.Token); err != nil {
		return UpsertPlan{}, err
	}
	if err := device.ValidatePlatform(c.Vendor, up.Platform); err != nil {
		return UpsertPlan{}, err
	}
	now = now.UTC().Truncate(time.Millisecond)
	var plan UpsertPlan
	newKey := TokenKey(up.Token)
	plan.Index = newKey

	var existing *device.Device
	live := make([]device.Device, 0, len(current))
	for i := range current {
		d := current[i]
		switch {
		case d.DeviceID == up.DeviceID:
			existing = &current[i]
		case d.Expired(now):
			plan.Remove = append(plan.Remove, d.DeviceID)
			plan.Unindex = appendUnindex(plan.Unindex, d, newKey)
		default:
			live = append(live, d)
		}
	}

	dev := device.Device{
		UserID:        up.UserID,
		DeviceID:      up.DeviceID,
		CertificateID: c.ID,
		Vendor:        c.Vendor,
		Platform:      up.Platform,
		Token:         up.Token,
		State:         device.Background,
		Status:        device.Active,
		AppVersion:    up.AppVersion,
		Locale:        up.Locale,
		Timezone:      up.Timezone,
		CreatedAt:     now,
		UpdatedAt:     now,
		TokenAt:       now,
	}
	if existing != nil && !existing.Expired(now) {
		dev.CreatedAt = existing.CreatedAt
		dev.State = existing.State
		dev.UnreadCount = existing.UnreadCount
		dev.LastResult = existing.LastResult
	}
	if existing != nil && existing.Token != "" && TokenKey(existing.Token) != newKey {
		plan.Unindex = append(plan.Unindex, IndexEntry{Key: TokenKey(existing.Token), Owner: TokenOwner{existing.UserID, existing.DeviceID}})
	}
	plan.Device = dev
	plan.Put = append(plan.Put, dev)

	// The token's previous holder loses it: another device of this user
	// (an app reinstalled under a new device ID) or another user's device
	// (an account switch on one phone).
	if owner != nil && !(owner.UserID == up.UserID && owner.DeviceID == up.DeviceID) {
		if owner.UserID == up.UserID {
			for i, d := range live {
				if d.DeviceID == owner.DeviceID && d.Token != "" && TokenKey(d.Token) == newKey {
					live[i] = loseToken(d, now)
					plan.Put = append(plan.Put, live[i])
				}
			}
		} else {
			plan.Strip = &TokenOwner{UserID: owner.UserID, DeviceID: owner.DeviceID}
		}
	}

	// Enforce the cap: evict the least recently updated devices.
	if existing == nil && len(live)+1 > maxDevices {
		sort.SliceStable(live, func(i, j int) bool {
			if !live[i].UpdatedAt.Equal(live[j].UpdatedAt) {
				return live[i].UpdatedAt.Before(live[j].UpdatedAt)
			}
			return live[i].DeviceID < live[j].DeviceID
		})
		for _, d := range live[:len(live)+1-maxDevices] {
			plan.Remove = append(plan.Remove, d.DeviceID)
			plan.Unindex = appendUnindex(plan.Unindex, d, newKey)
			plan.Put = dropDevice(plan.Put, d.DeviceID)
		}
	}
	return plan, nil
}

// loseToken is d after its token moved to another device.
func loseToken(d device.Device, now time.Time) device.Device {
	d.Token = ""
	d.Status = device.LoggedOut
	d.UpdatedAt = now
	return d
}

// LoseToken is what happens to a device whose token another device took.
func LoseToken(d device.Device, now time.Time) device.Device {
	return loseToken(d, now.UTC().Truncate(time.Millisecond))
}

func appendUnindex(list []IndexEntry, d device.Device, keep string) []IndexEntry {
	if d.Token == "" {
		return list
	}
	k := TokenKey(d.Token)
	if k == keep {
		return list // the new upload takes this key over
	}
	return append(list, IndexEntry{Key: k, Owner: TokenOwner{d.UserID, d.DeviceID}})
}

func dropDevice(list []device.Device, id string) []device.Device {
	out := list[:0]
	for _, d := range list {
		if d.DeviceID != id {
			out = append(out, d)
		}
	}
	return out
}

// LiveDevices returns the devices that have not expired, ordered by device ID.
func LiveDevices(all []device.Device, now time.Time) []device.Device {
	out := make([]device.Device, 0, len(all))
	for _, d := range all {
		if !d.Expired(now) {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}

// Kick returns the devices after a kick of all but keepDeviceID.
func Kick(devs []device.Device, keepDeviceID string, now time.Time) []device.Device {
	now = now.UTC().Truncate(time.Millisecond)
	out := make([]device.Device, len(devs))
	for i, d := range devs {
		if d.DeviceID != keepDeviceID && d.Status == device.Active {
			d.Status = device.Kicked
			d.UpdatedAt = now
		}
		out[i] = d
	}
	return out
}
