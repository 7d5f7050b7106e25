// Package functions_test checks the Lambda binaries as `make build` makes
// them: linux/arm64, -tags lambda.norpc, stripped.
package functions_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxBinaryBytes caps an app function's bootstrap at 25 MB. The X-Ray SDK
// alone adds about 12 MB (it links aws-sdk-go v1, grpc and fasthttp).
const maxBinaryBytes = 25_000_000

// vendorSDKs are the modules only the push path may link.
var vendorSDKs = []string{"github.com/sideshow/apns2", "firebase.google.com/go"}

// localOnly are modules only the local server needs.
var localOnly = []string{"go.etcd.io/bbolt"}

func TestAppFunctionsLinkNoVendorSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("builds linux/arm64 binaries")
	}
	dir := t.TempDir()
	for _, fn := range []string{"token-upload", "state-change", "admin"} {
		t.Run(fn, func(t *testing.T) {
			out := filepath.Join(dir, fn)
			cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, "./"+fn)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, b)
			}
			info, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s bootstrap: %.2f MB", fn, float64(info.Size())/1e6)
			if info.Size() > maxBinaryBytes {
				t.Errorf("%s is %d bytes, over %d", fn, info.Size(), maxBinaryBytes)
			}
			mods, err := exec.Command("go", "version", "-m", out).CombinedOutput()
			if err != nil {
				t.Fatalf("go version -m: %v\n%s", err, mods)
			}
			if !strings.Contains(string(mods), "github.com/aws/aws-xray-sdk-go") || !strings.Contains(string(mods), "-tags=lambda.norpc") {
				t.Fatalf("%s: build info lacks the X-Ray SDK or the lambda.norpc tag:\n%s", fn, mods)
			}
			for _, sdk := range append(vendorSDKs, localOnly...) {
				if strings.Contains(string(mods), sdk) {
					t.Errorf("%s links %s", fn, sdk)
				}
			}
		})
	}
}
