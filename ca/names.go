package ca

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkName validates a name that goes into CN, GN, SN or O: valid UTF-8,
// at most maxNameLength characters (X.520 ub-common-name), no spaces at
// either end, and only characters a reader can see: letters, marks,
// digits, punctuation, symbols and the plain space. Refused are control
// characters (Unicode category Cc), format characters (Cf: direction
// overrides and marks, zero-width spaces and joiners, the byte order mark,
// the soft hyphen, tags), characters that are invisible or ignorable by
// definition (Default_Ignorable_Code_Point, such as variation selectors
// and Hangul fillers), line and paragraph separators, spaces other than
// U+0020, private-use and unassigned code points, and U+FFFD, which marks
// text that was not valid UTF-8 somewhere on its way. A name that renders
// one way and compares another would let a certificate pass for someone
// else's (see Unicode Technical Report 36, section 2).
func checkName(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return fmt.Errorf("%w: %s is required", ErrInvalidRequest, field)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidRequest, field)
	case utf8.RuneCountInString(v) > maxNameLength:
		return fmt.Errorf("%w: %s is longer than %d characters", ErrInvalidRequest, field, maxNameLength)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%w: %s has leading or trailing spaces", ErrInvalidRequest, field)
	}
	for _, r := range v {
		if what := invisible(r); what != "" {
			return fmt.Errorf("%w: %s contains U+%04X, %s; names may hold only visible characters and plain spaces",
				ErrInvalidRequest, field, r, what)
		}
	}
	return nil
}

// invisible says what kind of character r is if a name may not hold it,
// and "" if it may.
func invisible(r rune) string {
	switch {
	case r == ' ':
		return ""
	case unicode.Is(unicode.Cc, r):
		return "a control character"
	case unicode.Is(unicode.Cf, r):
		return "a format character (a direction override or mark, a zero-width character, or similar)"
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r), unicode.Is(unicode.Variation_Selector, r):
		return "an invisible character"
	case unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
		return "a line or paragraph separator"
	case unicode.Is(unicode.Zs, r):
		return "a space other than the plain space"
	case unicode.Is(unicode.Co, r):
		return "a private-use character"
	case r == utf8.RuneError:
		return "the replacement character (the text was not valid UTF-8)"
	case !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S):
		return "an unassigned code point"
	}
	return ""
}

// RFC 5321 section 4.5.3.1 limits: the local part, the domain, and the
// whole address as it fits in a path of 256 octets with its angle brackets.
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxEmail     = 254
	maxLabel     = 63 // RFC 1035 section 2.3.4
)

// checkEmail validates an address for the rfc822Name of subjectAltName:
// a plain addr-spec local@domain within RFC 5321's limits, with a dot-atom
// local part (RFC 5322 section 3.4.1; no quoted strings or comments) and a
// domain of at least two letter-digit-hyphen labels (RFC 1035; no address
// literals, a top-level label that is not all digits). It is ASCII only:
// rfc822Name is an IA5String (RFC 5280 section 4.2.1.6), and
// internationalised addresses need SmtpUTF8Mailbox (RFC 9598) instead.
func checkEmail(addr string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: email: %s; give a plain address like name@example.dk", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	if len(addr) > maxEmail {
		return bad("the address is %d characters; RFC 5321 allows at most %d", len(addr), maxEmail)
	}
	for _, r := range addr {
		if r > unicode.MaxASCII || r <= ' ' || r == 0x7f {
			return bad("it may hold only printable ASCII characters without spaces (found %q)", r)
		}
	}
	local, domain, ok := strings.Cut(addr, "@")
	switch {
	case !ok:
		return bad("it has no @")
	case strings.Contains(domain, "@"):
		return bad("it has more than one @")
	case local == "":
		return bad("nothing before the @")
	case len(local) > maxLocalPart:
		return bad("the part before the @ is %d characters; RFC 5321 allows at most %d", len(local), maxLocalPart)
	case len(domain) > maxDomain:
		return bad("the domain is %d characters; RFC 5321 allows at most %d", len(domain), maxDomain)
	}
	if err := checkDotAtom(local); err != "" {
		return bad("the part before the @ %s", err)
	}
	return checkDomain(domain, bad)
}

// atext is RFC 5322's atext: the characters of an atom.
func atext(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// checkDotAtom says what is wrong with a dot-atom, or "".
func checkDotAtom(s string) string {
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return "has a dot at its start or end, or two dots in a row"
		}
		for _, r := range atom {
			if !atext(r) {
				return fmt.Sprintf("holds %q, which needs quoting; quoted local parts are not accepted", r)
			}
		}
	}
	return ""
}

func checkDomain(domain string, bad func(string, ...any) error) error {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return bad("the domain %q has no dot; give a fully qualified domain", domain)
	}
	for _, l := range labels {
		switch {
		case l == "":
			return bad("the domain has an empty label")
		case len(l) > maxLabel:
			return bad("a label of the domain is %d characters; at most %d", len(l), maxLabel)
		case l[0] == '-' || l[len(l)-1] == '-':
			return bad("a label of the domain starts or ends with a hyphen")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return bad("the domain holds %q; only letters, digits and hyphens (address literals are not accepted)", r)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return bad("the top-level domain is all digits")
	}
	return nil
}
