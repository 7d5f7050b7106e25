package httpapi

import "net/http"

// Mux is where routes are registered: an *http.ServeMux, or a recorder in
// the test that checks the router against infra/openapi.yaml.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Routes registers one function's routes on a mux. The Lambda functions each
// mount their own group; the local server mounts them all on one mux.
type Routes func(mux Mux, d Deps)

// DeviceRoutes are token-upload's routes: the app's token lifecycle.
func DeviceRoutes(s DeviceStore) Routes {
	return func(mux Mux, d Deps) {
		mux.Handle("PUT /v1/devices/{deviceId}", d.App(uploadDevice(s)))
		mux.Handle("DELETE /v1/devices/{deviceId}", d.App(clearDevice(s)))
		mux.Handle("GET /v1/devices", d.App(listDevices(s)))
	}
}

// StateRoutes are state-change's route: foreground/background reports.
func StateRoutes(s DeviceStore) Routes {
	return func(mux Mux, d Deps) {
		mux.Handle("PUT /v1/devices/{deviceId}/state", d.App(setState(s)))
	}
}

// AdminRoutes are admin's routes: certificates and the push check.
func AdminRoutes(s AdminStore) Routes {
	return func(mux Mux, d Deps) {
		mux.Handle("POST /v1/certificates", d.Admin(createCertificate(s)))
		mux.Handle("GET /v1/certificates", d.Admin(listCertificates(s)))
		mux.Handle("GET /v1/certificates/{id}", d.Admin(getCertificate(s)))
		mux.Handle("PUT /v1/certificates/{id}", d.Admin(replaceCertificate(s)))
		mux.Handle("DELETE /v1/certificates/{id}", d.Admin(deleteCertificate(s)))
		mux.Handle("GET /v1/users/{userId}", d.Admin(getUser(s)))
		mux.Handle("POST /v1/users/{userId}/kick", d.Admin(kickUser(s)))
		mux.Handle("PUT /v1/users/{userId}/tags", d.Admin(updateTags(s)))
		mux.Handle("PUT /v1/users/{userId}/attributes", d.Admin(updateAttributes(s)))
	}
}

// NewHandler builds the API from route groups: one mux, the health check
// (served by every function), and the middleware around it all.
func NewHandler(d Deps, groups ...Routes) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", d.Handle(health))
	for _, g := range groups {
		g(mux, d)
	}
	return Middleware(d.Log, mux)
}
