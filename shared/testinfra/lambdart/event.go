package lambdart

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// What HTTPEvent puts in the fields a test does not choose.
const (
	eventAPIID    = "lambdart01"
	eventDomain   = eventAPIID + ".execute-api." + DefaultRegion + ".amazonaws.com"
	eventSourceIP = "198.51.100.7"
	eventAgent    = "lambdart"
)

// HTTPEvent builds the event API Gateway HTTP API (payload format 2.0) sends
// a Lambda integration for a request: method, path (with an optional
// ?query), headers and body. As API Gateway does, it lower-cases header
// names, moves Cookie into cookies, adds content-length, host and the
// x-forwarded-* headers unless given, and base64-encodes a body that is not
// UTF-8 text. The route key is "$default": httpadapter, like offpush's
// router, routes on the path, not on the key.
func HTTPEvent(method, path string, headers map[string]string, body []byte) []byte {
	rawPath, rawQuery, _ := strings.Cut(path, "?")
	now := time.Now().UTC()
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        rawPath,
		RawQueryString: rawQuery,
		Headers:        map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "$default",
			AccountID:    accountID,
			Stage:        "$default",
			RequestID:    newAPIRequestID(),
			APIID:        eventAPIID,
			DomainName:   eventDomain,
			DomainPrefix: eventAPIID,
			Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    strings.ToUpper(method),
				Path:      rawPath,
				Protocol:  "HTTP/1.1",
				SourceIP:  eventSourceIP,
				UserAgent: eventAgent,
			},
		},
	}
	if rawQuery != "" {
		if q, err := url.ParseQuery(rawQuery); err == nil {
			ev.QueryStringParameters = map[string]string{}
			for k, vs := range q {
				ev.QueryStringParameters[k] = strings.Join(vs, ",")
			}
		}
	}
	for k, v := range headers {
		k = strings.ToLower(k)
		if k == "cookie" {
			for _, c := range strings.Split(v, ";") {
				if c = strings.TrimSpace(c); c != "" {
					ev.Cookies = append(ev.Cookies, c)
				}
			}
			continue
		}
		ev.Headers[k] = v
	}
	defaults := map[string]string{
		"host":              eventDomain,
		"user-agent":        eventAgent,
		"x-forwarded-for":   eventSourceIP,
		"x-forwarded-port":  "443",
		"x-forwarded-proto": "https",
	}
	if len(body) > 0 {
		defaults["content-length"] = strconv.Itoa(len(body))
	}
	for k, v := range defaults {
		if _, ok := ev.Headers[k]; !ok {
			ev.Headers[k] = v
		}
	}
	ev.RequestContext.HTTP.UserAgent = ev.Headers["user-agent"]
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(fmt.Sprintf("lambdart: marshal HTTP event: %v", err))
	}
	return b
}

// DecodeHTTPResponse reads a function's HTTP API response as API Gateway
// does, with the body base64-decoded if isBase64Encoded (which it then
// clears). A response without a valid statusCode is an error here, where
// API Gateway would guess a 200: offpush's functions always set it.
func DecodeHTTPResponse(b []byte) (events.APIGatewayV2HTTPResponse, error) {
	var r events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decode HTTP API response %.200q: %w", b, err)
	}
	if r.StatusCode < 100 || r.StatusCode > 599 {
		return r, fmt.Errorf("decode HTTP API response %.200q: no valid statusCode", b)
	}
	if r.IsBase64Encoded {
		body, err := base64.StdEncoding.DecodeString(r.Body)
		if err != nil {
			return r, fmt.Errorf("decode HTTP API response body: %w", err)
		}
		r.Body = string(body)
		r.IsBase64Encoded = false
	}
	return r, nil
}

// newAPIRequestID returns an ID in the form of API Gateway's request IDs.
func newAPIRequestID() string {
	var b [10]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]) + "="
}
