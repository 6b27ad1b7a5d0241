package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.step.sm/crypto/pemutil"

	"github.com/oces-pki/oces/hsm"
)

// An officer's credential key that is not in a token is kept on disk as
// an encrypted PKCS#8 key (RFC 5958 EncryptedPrivateKeyInfo; PBES2 of
// RFC 8018 with PBKDF2-HMAC-SHA256, 600,000 iterations, and AES-256-CBC),
// which openssl and every TLS stack read. Its passphrase comes from a
// file, standard input or a prompt, never from a flag.

// minPassphrase is the shortest passphrase accepted for a new key.
const minPassphrase = 12

// pemEncryptedKey is the PEM type of an encrypted PKCS#8 key.
const pemEncryptedKey = "ENCRYPTED PRIVATE KEY"

// writeEncryptedKey writes key to path (which must not exist, mode 0600)
// as an encrypted PKCS#8 PEM under passphrase.
func writeEncryptedKey(path string, key crypto.Signer, passphrase string) error {
	if len(passphrase) < minPassphrase {
		return usagef("the key's passphrase must be at least %d characters", minPassphrase)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	block, err := pemutil.EncryptPKCS8PrivateKey(rand.Reader, der, []byte(passphrase), x509.PEMCipherAES256)
	if err != nil {
		return fmt.Errorf("encrypting the key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, block); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// errWrongPassphrase: the key did not decrypt to the certificate's key.
var errWrongPassphrase = errors.New("the passphrase does not open the key (or the key is not the certificate's)")

// parseKeyFile reads a PEM private key, decrypting an encrypted PKCS#8 key
// with the passphrase that passphrase() returns (asked only then), and
// checks that it is the key of pub.
func parseKeyFile(data []byte, pub crypto.PublicKey, passphrase func() (string, error)) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key in the file")
	}
	der := block.Bytes
	switch block.Type {
	case pemEncryptedKey:
		pass, err := passphrase()
		if err != nil {
			return nil, err
		}
		if der, err = pemutil.DecryptPKCS8PrivateKey(block.Bytes, []byte(pass)); err != nil {
			return nil, errWrongPassphrase
		}
	case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
	default:
		return nil, fmt.Errorf("a PEM block of type %q is not a private key", block.Type)
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(der)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	default:
		key, err = x509.ParsePKCS8PrivateKey(der)
	}
	if err != nil {
		if block.Type == pemEncryptedKey {
			return nil, errWrongPassphrase
		}
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", key)
	}
	if err := sameKey(signer, pub); err != nil {
		if block.Type == pemEncryptedKey {
			return nil, errWrongPassphrase
		}
		return nil, err
	}
	return signer, nil
}

// sameKey checks that signer holds the private key of pub, by the public
// key's encoding.
func sameKey(signer crypto.Signer, pub crypto.PublicKey) error {
	a, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return err
	}
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	if !bytes.Equal(a, b) {
		return errors.New("the key is not the certificate's key")
	}
	return nil
}

// proveKey has signer sign a fresh challenge and checks the signature with
// pub: the key is present and usable, not only named.
func proveKey(signer crypto.Signer, pub crypto.PublicKey) error {
	if err := sameKey(signer, pub); err != nil {
		return err
	}
	challenge := make([]byte, 32)
	if _, err := rand.Read(challenge); err != nil {
		return err
	}
	digest := sha256.Sum256(challenge)
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("signing with the key: %w", err)
	}
	return verifyDigest(pub, digest[:], sig)
}

// verifyDigest checks an ECDSA, RSA (PKCS #1 v1.5) or Ed25519 signature.
func verifyDigest(pub crypto.PublicKey, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if ecdsa.VerifyASN1(k, digest, sig) {
			return nil
		}
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil {
			return nil
		}
	default:
		return fmt.Errorf("a %T key cannot be proven here", pub)
	}
	return errors.New("the key's signature does not verify with the certificate")
}

// keyPassphraseEnv names the passphrase file of the officer key.
const keyPassphraseEnv = "OCES_KEY_PASSPHRASE_FILE"

// loadCredentialKey opens the private key of an officer's (or RA's)
// credential: a PKCS#11 URI, or a PEM file, encrypted or not. The
// passphrase of an encrypted file comes from passFile (or
// $OCES_KEY_PASSPHRASE_FILE; "-" for standard input), else from a prompt.
// close releases the HSM.
func loadCredentialKey(ctx context.Context, cmd *cobra.Command, keyRef, passFile string, pub crypto.PublicKey) (crypto.Signer, func(), error) {
	if strings.HasPrefix(keyRef, "pkcs11:") {
		h := hsm.New(newLogger())
		signer, err := h.Signer(ctx, keyRef)
		if err != nil {
			h.Close()
			return nil, nil, fmt.Errorf("opening the officer key: %w", err)
		}
		return signer, func() { h.Close() }, nil
	}
	data, err := os.ReadFile(keyRef)
	if err != nil {
		return nil, nil, usagef("reading the officer key (--key, $OCES_KEY): %v", err)
	}
	passFile = cmp.Or(passFile, os.Getenv(keyPassphraseEnv), "-")
	signer, err := parseKeyFile(data, pub, func() (string, error) {
		return readPrivate(cmd, passFile, "passphrase of "+keyRef)
	})
	if err != nil {
		return nil, nil, usagef("loading the officer key %s: %v", keyRef, err)
	}
	return signer, func() {}, nil
}
