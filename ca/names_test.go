package ca

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value, want string // want "" means accepted
	}{
		{"Danish", "Søren Ærø Åberg-Kjær", ""},
		{"apostrophe and hyphen", "Anne-Marie O'Neill", ""},
		{"combining mark", "Jose\u0301", ""},
		{"CJK outside the BMP", "\U00020BB7", ""},
		{"64 characters", strings.Repeat("æ", 64), ""},
		{"65 characters", strings.Repeat("æ", 65), "longer than 64"},
		{"empty", "", "required"},
		{"invalid UTF-8", "a\xffb", "not valid UTF-8"},
		{"leading space", " Karen", "leading or trailing"},
		{"newline", "Karen\nJensen", "control character"},
		{"DEL", "Karen\x7f", "control character"},
		{"right-to-left override", "a\u202eb", "U+202E, a format character"},
		{"first strong isolate", "a\u2068b", "format character"},
		{"zero-width non-joiner", "a\u200cb", "format character"},
		{"Mongolian vowel separator", "a\u180eb", "format character"},
		{"combining grapheme joiner", "a\u034fb", "invisible"},
		{"Hangul choseong filler", "a\u115fb", "invisible"},
		{"variation selector 256", "a\U000e01efb", "invisible"},
		{"ideographic space", "a\u3000b", "space other than"},
		{"paragraph separator", "a\u2029b", "separator"},
		{"supplementary private use", "a\U000f0000b", "private-use"},
		{"replacement character", "a\ufffdb", "replacement"},
		{"noncharacter", "a\ufffeb", "unassigned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkName("name", tc.value, true)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "name") {
				t.Fatalf("error %v, want ErrInvalidRequest naming the field and saying %q", err, tc.want)
			}
		})
	}
}

func TestCheckEmail(t *testing.T) {
	t.Parallel()
	label := strings.Repeat("d", 63)
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"plain", "karen.jensen@firma.dk", ""},
		{"atext", "k!#$%&'*+-/=?^_`{|}~@sub.firma.dk", ""},
		{"64 before the @", strings.Repeat("k", 64) + "@firma.dk", ""},
		{"254 in all", "k@" + label + "." + label + "." + label + "." + strings.Repeat("g", 57) + ".dk", ""},
		{"digits in the domain", "k@123.firma.dk", ""},
		{"65 before the @", strings.Repeat("k", 65) + "@firma.dk", "at most 64"},
		{"255 in all", "k@" + label + "." + label + "." + label + "." + strings.Repeat("g", 58) + ".dk", "at most 254"},
		{"no @", "karen.firma.dk", "no @"},
		{"two @", "a@b@firma.dk", "more than one @"},
		{"empty local part", "@firma.dk", "nothing before"},
		{"trailing dot", "karen.@firma.dk", "dot at its start or end"},
		{"comment", "karen(x)@firma.dk", "needs quoting"},
		{"space", "karen jensen@firma.dk", "printable ASCII"},
		{"tab", "karen\t@firma.dk", "printable ASCII"},
		{"non-ASCII", "søren@firma.dk", "printable ASCII"},
		{"IDN domain", "k@æøå.dk", "printable ASCII"},
		{"single label", "karen@dk", "no dot"},
		{"empty label", "karen@firma..dk", "empty label"},
		{"trailing dot in the domain", "karen@firma.dk.", "empty label"},
		{"hyphen at the end of a label", "karen@firma-.dk", "hyphen"},
		{"64-character label", "karen@" + label + "d.dk", "at most 63"},
		{"underscore in the domain", "karen@fir_ma.dk", "letters, digits and hyphens"},
		{"address literal", "karen@[192.0.2.1]", "letters, digits and hyphens"},
		{"numeric top-level domain", "karen@192.0.2.1", "all digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkEmail(tc.addr)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "ca: invalid request: email:") {
				t.Fatalf("error %v, want ErrInvalidRequest on email saying %q", err, tc.want)
			}
		})
	}
}
