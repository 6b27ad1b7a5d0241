package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// run runs a tool in dir and returns its combined output; qpdf's exit code
// 3 (warnings only) counts as success when okWarn is set.
func run(dir string, okWarn bool, name string, args ...string) (string, error) {
	return runEnv(dir, nil, okWarn, name, args...)
}

// runEnv is run with extra environment entries.
func runEnv(dir string, env []string, okWarn bool, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && okWarn && ee.ExitCode() == 3 {
		err = nil
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// qpdf rewrites in to out (both in dir) with the given options and
// --deterministic-id or --static-id, so that the same input gives the same
// output.
func qpdf(dir, in, out string, opts ...string) error {
	args := append(append([]string{}, opts...), in, out)
	_, err := run(dir, false, "qpdf", args...)
	return err
}

const (
	rootSubject   = "/C=DK/O=OCES PKI test corpus/CN=OCES Corpus Test Root"
	signerSubject = "/C=DK/O=OCES PKI test corpus/CN=OCES Corpus Test Signer"
	tsaSubject    = "/C=DK/O=OCES PKI test corpus/CN=OCES Corpus Test TSA"
	nssNick       = "corpus-signer"
	rootNick      = "OCES Corpus Test Root - OCES PKI test corpus" // as pk12util names it
	p12Password   = "corpus"
)

// makePKI creates, under dir, the test root, a signer and a time-stamping
// certificate (openssl, RSA-2048, 20 years) and an NSS database with an empty password that holds the
// signer's key and trusts the root (certutil, pk12util), unless they exist
// and fresh is false.
func makePKI(dir string, fresh bool) error {
	pki, nss := filepath.Join(dir, "pki"), filepath.Join(dir, "nss")
	if !fresh {
		if _, err := os.Stat(filepath.Join(nss, "cert9.db")); err == nil {
			return nil
		}
	}
	for _, d := range []string{pki, nss} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	exts := map[string]string{
		"signer.ext": "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
		"tsa.ext":    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
	}
	for name, ext := range exts {
		if err := os.WriteFile(filepath.Join(pki, name), []byte(ext), 0o644); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out", "root.pem", "-days", "7305",
			"-subj", rootSubject, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"},
		{"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "signer.key", "-out", "signer.csr", "-subj", signerSubject},
		{"openssl", "x509", "-req", "-in", "signer.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial", "2", "-days", "7300",
			"-sha256", "-extfile", "signer.ext", "-out", "signer.pem"},
		{"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", tsaSubject},
		{"openssl", "x509", "-req", "-in", "tsa.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial", "3", "-days", "7300",
			"-sha256", "-extfile", "tsa.ext", "-out", "tsa.pem"},
		{"openssl", "pkcs12", "-export", "-inkey", "signer.key", "-in", "signer.pem", "-certfile", "root.pem", "-name", nssNick,
			"-passout", "pass:" + p12Password, "-out", "signer.p12"},
	}
	for _, s := range steps {
		if _, err := run(pki, false, s[0], s[1:]...); err != nil {
			return err
		}
	}
	db := "sql:" + nss
	for _, s := range [][]string{
		{"certutil", "-N", "-d", db, "--empty-password"},
		{"pk12util", "-i", filepath.Join(pki, "signer.p12"), "-d", db, "-W", p12Password},
		{"certutil", "-M", "-d", db, "-n", rootNick, "-t", "CT,C,C"},
	} {
		if _, err := run(dir, false, s[0], s[1:]...); err != nil {
			return err
		}
	}
	for _, f := range []string{"signer.csr", "signer.ext", "signer.p12", "tsa.csr", "tsa.ext", "root.srl"} {
		_ = os.Remove(filepath.Join(pki, f))
	}
	return nil
}

// pdfsigSign signs in into out with the corpus NSS database: into the
// existing field named field when it is not empty, else into a new field
// (-add-signature). pdfsig 22.12 makes adbe.pkcs7.detached either way: it
// refuses -etsi with -add-signature and ignores it with -sign.
//
// For a new field pdfsig embeds a whole system font for the appearance
// (Noto Sans here, over 1 MB); fontconf points fontconfig at a directory
// that holds only a subset font, which keeps the fixture small.
func pdfsigSign(dir, in, out, field, fontconf string) error {
	args := []string{"-nssdir", "sql:" + filepath.Join(dir, "nss"), "-nick", nssNick, "-reason", "OCES corpus fixture"}
	if field != "" {
		args = append(args, "-sign", field)
	} else {
		args = append(args, "-add-signature", "-new-signature-field-name", "Signature1")
	}
	outText, err := runEnv(dir, []string{"FONTCONFIG_FILE=" + fontconf}, false, "pdfsig", append(args, in, out)...)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, out)); err != nil {
		return fmt.Errorf("pdfsig wrote no %s: %s", out, outText)
	}
	return nil
}

// javaClasspath is Debian's PDFBox 2 and Bouncy Castle (libpdfbox2-java,
// libbcpkix-java).
var javaClasspath = strings.Join([]string{
	"/usr/share/java/pdfbox2.jar", "/usr/share/java/fontbox2.jar", "/usr/share/java/commons-logging.jar",
	"/usr/share/java/bcprov.jar", "/usr/share/java/bcpkix.jar", "/usr/share/java/bcutil.jar",
}, ":")

// pdfbox runs gen/java/CorpusSign.java (PDFBox and Bouncy Castle) on in,
// writing out: mode "sign" signs ETSI.CAdES.detached with the corpus
// signer key, mode "timestamp" adds an ETSI.RFC3161 document time-stamp
// made with the corpus TSA key; at is the fixed signing time or genTime.
func pdfbox(dir, tmp, mode, in, out string, at time.Time) error {
	classes := filepath.Join(tmp, "classes")
	if _, err := os.Stat(filepath.Join(classes, "CorpusSign.class")); err != nil {
		if _, err := run(dir, false, "javac", "-nowarn", "-cp", javaClasspath, "-d", classes, filepath.Join(dir, "gen", "java", "CorpusSign.java")); err != nil {
			return err
		}
	}
	who := "signer"
	if mode == "timestamp" {
		who = "tsa"
	}
	_, err := run(dir, false, "java", "-cp", classes+":"+javaClasspath, "CorpusSign", mode, in, out,
		filepath.Join(dir, "pki", who+".key"), filepath.Join(dir, "pki", who+".pem"), filepath.Join(dir, "pki", "root.pem"),
		fmt.Sprint(at.UnixMilli()))
	return err
}
