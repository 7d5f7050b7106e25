package auth

import "strings"

// BearerToken extracts the credential from an Authorization header of the
// form "Bearer <token>": the scheme is case-insensitive and followed by one or
// more spaces. It returns false when the header is missing, uses another
// scheme, has no token, or the token holds spaces or characters outside
// visible ASCII.
func BearerToken(authorizationHeader string) (string, bool) {
	h := strings.Trim(authorizationHeader, " \t")
	const scheme = "bearer"
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", false
	}
	token := strings.TrimLeft(h[len(scheme):], " ")
	if token == "" || !isTokenText(token) {
		return "", false
	}
	return token, true
}
