package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/csc"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
)

// CitizenConfig is citizens' sole control (package citizen). Its keys
// live in the HSM and are generated on first use when absent.
type CitizenConfig struct {
	// PepperKey peppers passwords (HMAC-SHA256 secret); CodeKey hashes code
	// card codes (HMAC-SHA256 secret); AppKey seals the code app's seeds
	// (AES-256). PKCS#11 URIs.
	PepperKey string `yaml:"pepper_key"`
	CodeKey   string `yaml:"code_key"`
	AppKey    string `yaml:"app_key"`
	// KeyToken is the PKCS#11 URI of the token (no object) in which the
	// one-time signing keys are made.
	KeyToken string `yaml:"key_token"`
	// WrapKey is the trusted AES wrapping key of the citizens' long-term
	// (NemID model) keys; made by 'oces citizen wrap-key'. Optional.
	WrapKey string `yaml:"wrap_key"`
	// CSCClients are the service providers of the CSC API (/csc/v2/ on
	// the admin listener, which then accepts connections without a client
	// certificate; the admin API still requires one).
	CSCClients []CSCClientConfig `yaml:"csc_clients"`
	// QualifiedValidity and QualifiedPolicies set the qualified-signing
	// profile: 1 hour and QCP-n-qscd plus the POCES policy by default.
	QualifiedValidity conf.Duration `yaml:"qualified_validity"`
	QualifiedPolicies []string      `yaml:"qualified_policies"`
	QualifiedPDS      string        `yaml:"qualified_pds"` // https URL of the English PKI disclosure statement
	// RSAPoolSize is how many RSA-3072 one-time keys are kept ready in
	// key_token (32 by default; 0 turns RSA-3072 one-time keys off);
	// RSAPoolRefill how many are made at once (1: refilling takes one
	// core at most); RSAPoolWait how long a request waits for a key when
	// the pool is empty before it is refused as unavailable (2s).
	RSAPoolSize   *int          `yaml:"rsa_pool_size"`
	RSAPoolRefill int           `yaml:"rsa_pool_refill"`
	RSAPoolWait   conf.Duration `yaml:"rsa_pool_wait"`
}

// Bounds of the RSA-3072 pool.
const (
	defaultRSAPoolSize = 32
	maxRSAPoolSize     = 4096
)

// rsaPoolSize is the configured pool size, or the default.
func (z *CitizenConfig) rsaPoolSize() int {
	if z.RSAPoolSize == nil {
		return defaultRSAPoolSize
	}
	return *z.RSAPoolSize
}

func (c *CitizenConfig) on() bool { return c.PepperKey != "" }

func (c *Config) validateCitizen() error {
	z := c.Citizen
	for _, k := range []struct{ field, v string }{
		{"citizen.pepper_key", z.PepperKey}, {"citizen.code_key", z.CodeKey}, {"citizen.app_key", z.AppKey}, {"citizen.key_token", z.KeyToken},
		{"citizen.wrap_key", z.WrapKey},
	} {
		if k.v == "" {
			if k.field != "citizen.wrap_key" && (z.on() || k.field == "citizen.pepper_key" && z.CodeKey != "") {
				return conf.Errorf(k.field, "required with the rest of the citizen section")
			}
			continue
		}
		if !strings.HasPrefix(k.v, "pkcs11:") || strings.Contains(k.v, "pin-value=") {
			return conf.Errorf(k.field, "must be a PKCS#11 URI with pin-source (or OCES_HSM_PIN)")
		}
	}
	if _, err := c.qualifiedProfile(); err != nil {
		return err
	}
	switch n := z.rsaPoolSize(); {
	case n < 0 || n > maxRSAPoolSize:
		return conf.Errorf("citizen.rsa_pool_size", "must be 0 (no RSA-3072 one-time keys) to %d", maxRSAPoolSize)
	case z.RSAPoolRefill < 0 || z.RSAPoolRefill > max(n, 1):
		return conf.Errorf("citizen.rsa_pool_refill", "must be 1 to rsa_pool_size (%d)", n)
	case z.RSAPoolWait.D() < 0 || z.RSAPoolWait.D() > time.Minute:
		return conf.Errorf("citizen.rsa_pool_wait", "must be at most 1m")
	}
	return nil
}

// qualifiedProfile is the configured qualified-signing profile.
func (c *Config) qualifiedProfile() (*ca.QualifiedProfile, error) {
	p := ca.DefaultQualifiedProfile(c.PublicBaseURL)
	z := c.Citizen
	if z.QualifiedValidity.D() != 0 {
		p.Validity = z.QualifiedValidity.D()
	}
	if len(z.QualifiedPolicies) > 0 {
		p.Policies = nil
		for i, s := range z.QualifiedPolicies {
			oid, err := parseOID(s)
			if err != nil {
				return nil, conf.Errorf(fmt.Sprintf("citizen.qualified_policies[%d]", i), "%v", err)
			}
			p.Policies = append(p.Policies, oid)
		}
	}
	if z.QualifiedPDS != "" {
		p.PDS = []ca.PDSLocation{{URL: z.QualifiedPDS, Language: "en"}}
	}
	if err := p.Validate(); err != nil {
		return nil, conf.Errorf("citizen", "%v", err)
	}
	return p, nil
}

// citizens builds the sole-control service, generating its HSM keys on
// first use.
func (a *app) citizens(ctx context.Context, cfg *Config) (*citizen.Service, error) {
	z := cfg.Citizen
	if !z.on() {
		return nil, usagef("the citizen section of %s is not configured (citizen.pepper_key, code_key, app_key, key_token)", cfg.path)
	}
	for _, k := range []struct {
		uri    string
		create func(context.Context, string) error
	}{{z.PepperKey, a.hsm.GenerateSecret}, {z.CodeKey, a.hsm.GenerateSecret}, {z.AppKey, a.hsm.GenerateAESKey}} {
		if err := k.create(ctx, k.uri); err != nil && !errors.Is(err, hsm.ErrKeyExists) {
			return nil, fmt.Errorf("citizen keys: %w", err)
		}
	}
	return citizen.New(citizen.Config{
		Store: citizen.Records(a.store), Registry: a.ca, Keys: a.hsm, Sealer: a.hsm,
		PepperKey: z.PepperKey, CodeKey: z.CodeKey, AppKey: z.AppKey, Logger: newLogger(),
	})
}

// withCitizens runs fn with the CA and the sole-control service open.
func withCitizens(ctx context.Context, configPath string, fn func(*citizen.Service) error) error {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	return withApp(ctx, cfg, func(a *app) error {
		svc, err := a.citizens(ctx, cfg)
		if err != nil {
			return err
		}
		return fn(svc)
	})
}

func newCitizenCommand(g *globals) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "citizen",
		Short: "Enrol citizens and support them: code cards, locks, passwords (the CA's store; stop 'oces serve' first)",
	}
	cmd.PersistentFlags().StringVarP(&configPath, "config", "c", envOr("OCES_CONFIG", defaultConfig), "server configuration")
	support := func(use, short string, fn func(ctx context.Context, s *citizen.Service, id string) (any, func(io.Writer) error, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " USER-ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withCitizens(cmd.Context(), configPath, func(s *citizen.Service) error {
					v, text, err := fn(cmd.Context(), s, args[0])
					if err != nil {
						return err
					}
					return g.printer(cmd.OutOrStdout()).print(v, text)
				})
			},
		}
	}
	officer := audit.Actor{Subject: "support (oces citizen, " + currentUser() + ")"}
	done := func(what, id string) (any, func(io.Writer) error, error) {
		v := map[string]string{"user_id": id, "done": what}
		return v, func(w io.Writer) error { return fields(w, "user ID", id, "done", what) }, nil
	}
	card := &cobra.Command{Use: "card", Short: "Code cards"}
	var cardOut string
	cardNew := support("new", "Replace the citizen's code card; the old one stops working", func(ctx context.Context, s *citizen.Service, id string) (any, func(io.Writer) error, error) {
		c, err := s.NewCard(ctx, id, officer)
		if err != nil {
			return nil, nil, err
		}
		if err := writeNew(cardOut, c.PDF()); err != nil {
			return nil, nil, err
		}
		return done("new code card "+c.Serial+" written to "+cardOut, id)
	})
	cardNew.Flags().StringVar(&cardOut, "card-out", "", "where to write the printable card (PDF; never overwritten)")
	_ = cardNew.MarkFlagRequired("card-out")
	card.AddCommand(cardNew)
	cmd.AddCommand(newCitizenEnrolCommand(g, &configPath), newWrapKeyCommand(&configPath), card,
		support("show", "Show a citizen: keys left, locks, certificates", func(ctx context.Context, s *citizen.Service, id string) (any, func(io.Writer) error, error) {
			sum, err := s.Show(ctx, id)
			if err != nil {
				return nil, nil, err
			}
			return sum, func(w io.Writer) error { return summaryText(w, sum) }, nil
		}),
		support("suspend", "Suspend every login of the citizen", func(ctx context.Context, s *citizen.Service, id string) (any, func(io.Writer) error, error) {
			if err := s.Suspend(ctx, id, officer); err != nil {
				return nil, nil, err
			}
			return done("suspended", id)
		}),
		support("unlock", "Lift locks and suspension (a suspended code card needs 'card new')", func(ctx context.Context, s *citizen.Service, id string) (any, func(io.Writer) error, error) {
			if err := s.Unlock(ctx, id, officer); err != nil {
				return nil, nil, err
			}
			return done("unlocked", id)
		}),
		support("reset-password", "Set a new initial password, printed once, to be changed at next login", func(ctx context.Context, s *citizen.Service, id string) (any, func(io.Writer) error, error) {
			pw, err := s.ResetPassword(ctx, id, officer)
			if err != nil {
				return nil, nil, err
			}
			v := map[string]string{"user_id": id, "initial_password": pw}
			return v, func(w io.Writer) error { return fields(w, "user ID", id, "initial password", pw) }, nil
		}),
	)
	return cmd
}

// newWrapKeyCommand makes the trusted wrapping key of the long-term keys.
// It logs in as the token's security officer, so it runs on its own,
// before 'oces serve' (which logs in as the user).
func newWrapKeyCommand(configPath *string) *cobra.Command {
	var soPINFile string
	cmd := &cobra.Command{
		Use:   "wrap-key --so-pin-file F",
		Short: "Make citizen.wrap_key, the trusted AES key that wraps citizens' long-term keys (needs the SO PIN)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(*configPath)
			if err != nil {
				return err
			}
			if !cfg.Citizen.wrapOn() {
				return usagef("set citizen.wrap_key in %s first", cfg.path)
			}
			if soPINFile == "" {
				return usagef("--so-pin-file is required: the security officer's PIN, in a file")
			}
			pin, err := os.ReadFile(soPINFile)
			if err != nil {
				return err
			}
			h := hsm.New(newLogger())
			defer h.Close()
			if err := h.GenerateWrappingKey(cmd.Context(), cfg.Citizen.WrapKey, strings.TrimSpace(string(pin))); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "wrapping key made: citizens' long-term keys are on at the next 'oces serve'")
			return nil
		},
	}
	cmd.Flags().StringVar(&soPINFile, "so-pin-file", "", "file holding the token's security officer PIN")
	return cmd
}

func newCitizenEnrolCommand(g *globals, configPath *string) *cobra.Command {
	var name, userID, cprFile, cardOut string
	cmd := &cobra.Command{
		Use:   "enrol --name NAME --card-out card.pdf [--user-id ID] [--cpr-file F]",
		Short: "Enrol a citizen; the CPR number comes from --cpr-file, standard input or a prompt, never a flag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || cardOut == "" {
				return usagef("--name and --card-out are required")
			}
			cpr, err := readCPR(cmd.InOrStdin(), cmd.ErrOrStderr(), cprFile)
			if err != nil {
				return err
			}
			return withCitizens(cmd.Context(), *configPath, func(s *citizen.Service) error {
				en, err := s.Enrol(cmd.Context(), citizen.EnrolRequest{Name: name, CPR: cpr, UserID: userID})
				if err != nil {
					return err
				}
				if err := writeNew(cardOut, en.Card.PDF()); err != nil {
					return fmt.Errorf("citizen %s is enrolled, but writing the code card failed (give a new one with 'oces citizen card new'): %w", en.Citizen.UserID, err)
				}
				v := map[string]string{"user_id": en.Citizen.UserID, "pid": en.Citizen.PID, "initial_password": en.InitialPassword,
					"card_serial": en.Card.Serial, "card": cardOut}
				return g.printer(cmd.OutOrStdout()).print(v, func(w io.Writer) error {
					return fields(w, "user ID", v["user_id"], "PID", v["pid"], "initial password", v["initial_password"]+" (to be changed at first login)",
						"code card", v["card_serial"]+" in "+cardOut)
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the citizen's name as in the CPR register")
	f.StringVar(&userID, "user-id", "", "the user ID the citizen chose (drawn when empty)")
	f.StringVar(&cprFile, "cpr-file", "", "file holding the CPR number (else standard input, or a prompt on a terminal)")
	f.StringVar(&cardOut, "card-out", "", "where to write the printable code card (PDF; never overwritten)")
	return cmd
}

// readCPR reads the CPR number from path, from in, or from a prompt when
// in is a terminal (without echo).
func readCPR(in io.Reader, prompt io.Writer, path string) (string, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("reading the CPR number: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "CPR number: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading the CPR number: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(io.LimitReader(in, 64)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the CPR number from standard input: %w", err)
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", usagef("no CPR number: give it on standard input, in --cpr-file, or at the prompt")
	}
	return line, nil
}

// writeNew writes a file that must not exist yet, readable by its owner only.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func summaryText(w io.Writer, s *citizen.Summary) error {
	lock := "no"
	switch {
	case s.Locked:
		lock = "until support unlocks"
	case !s.LockedUntil.IsZero():
		lock = "until " + s.LockedUntil.Format(time.RFC3339)
	}
	return fields(w, "user ID", s.UserID, "PID", s.PID, "name", s.Name, "status", string(s.Status),
		"code card", fmt.Sprintf("%s, %d keys left%s", s.CardSerial, s.KeysLeft, map[bool]string{true: ", suspended", false: ""}[s.CardSuspended]),
		"new card offered", fmt.Sprint(s.NewCardOffered), "code app", fmt.Sprint(s.CodeApp),
		"locked", lock, "wrong passwords", fmt.Sprint(s.WrongPasswords), "temporary locks", fmt.Sprint(s.TemporaryLocks),
		"failures last hour", fmt.Sprint(s.FailuresLastHour), "certificates", strings.Join(s.Certificates, ", "),
		"new card ordered", cardOrdered(s.CardOrdered))
}

// cardOrdered says whether the citizen ordered a new card on the web
// pages, for 'oces citizen card new' to fulfil.
func cardOrdered(t time.Time) string {
	if t.IsZero() {
		return "no"
	}
	return t.Format(time.RFC3339) + " (give it with 'oces citizen card new')"
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// CSCClientConfig is a service provider allowed to use the CSC API.
type CSCClientConfig struct {
	ID string `yaml:"id"`
	// SecretFile holds the OAuth2 client secret (client credentials grant).
	SecretFile string `yaml:"secret_file"`
	// CertificateSHA256 is the hex SHA-256 of a client certificate that
	// may be used instead.
	CertificateSHA256 string `yaml:"certificate_sha256"`
	// ReturnOrigins are the origins (scheme://host[:port]) its signing
	// requests may send the citizen back to (web.go).
	ReturnOrigins []string `yaml:"return_origins"`
}

// wrapOn: the trusted wrapping key of the long-term keys, made by
// 'oces citizen wrap-key' (it needs the SO PIN); long-term keys are off
// without it.
func (z *CitizenConfig) wrapOn() bool { return z.WrapKey != "" }

// citizenSigning wires both signing models into svc: one-time keys in
// key_token, long-term keys wrapped under wrap_key, both through a signing
// service of their own that reaches the TSA and the status services as
// the seals' does.
func (a *app) citizenSigning(ctx context.Context, cfg *Config, svc *citizen.Service, reg prometheus.Registerer) error {
	if a.citizenSign == nil {
		s, err := a.newCitizenSigning(ctx, cfg, reg)
		if err != nil {
			return err
		}
		a.citizenSign = s
	}
	return svc.SetSigning(*a.citizenSign)
}

// newCitizenSigning builds what citizenSigning shares.
func (a *app) newCitizenSigning(ctx context.Context, cfg *Config, reg prometheus.Registerer) (*citizen.Signing, error) {
	roots, err := cfg.trustAnchors()
	if err != nil {
		return nil, err
	}
	if cfg.tsaURL() == "" {
		return nil, conf.Errorf("signer.tsa_url", "citizens' signatures need a time-stamp authority: set signer.tsa_url or run the TSA (tsa.key)")
	}
	fetcher := revocation.New(revocation.Config{MaxAge: 10 * time.Second, Logger: newLogger()})
	sg, err := signer.New(signer.Config{
		TSA:        &signer.TSAClient{URL: cfg.tsaURL(), Roots: roots, Revocation: fetcher},
		Revocation: fetcher, Audit: a.store, Logger: newLogger(), MaxDocumentBytes: cfg.Signer.MaxDocumentBytes,
	})
	if err != nil {
		return nil, err
	}
	z := cfg.Citizen
	s := citizen.Signing{Signer: sg, CA: a.ca, NewKey: func(ctx context.Context) (citizen.OneTimeKey, error) {
		return a.hsm.GenerateSessionKey(ctx, z.KeyToken)
	}}
	if n := z.rsaPoolSize(); n > 0 {
		pool, err := citizen.NewKeyPool(citizen.PoolConfig{Size: n, Refill: z.RSAPoolRefill, Wait: z.RSAPoolWait.D(), Logger: newLogger(),
			New: func(ctx context.Context) (citizen.OneTimeKey, error) {
				return a.hsm.GenerateSessionRSAKey(ctx, z.KeyToken)
			}})
		if err != nil {
			return nil, err
		}
		// The pool's keys are destroyed at shutdown, before the HSM closes
		// (app.Close waits for the background).
		a.background.Go(func() {
			<-ctx.Done()
			if err := pool.Close(); err != nil {
				newLogger().Error("citizen: closing the RSA-3072 key pool", "err", err)
			}
		})
		if reg != nil {
			reg.MustRegister(
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "oces_citizen_rsa_pool_keys",
					Help: "RSA-3072 one-time keys ready in the pool."}, func() float64 { return float64(pool.Len()) }),
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "oces_citizen_rsa_pool_size",
					Help: "Size of the RSA-3072 one-time key pool (citizen.rsa_pool_size)."}, func() float64 { return float64(pool.Cap()) }))
		}
		s.RSAKeys = pool
	}
	if z.wrapOn() {
		s.NewWrappedKey = func(ctx context.Context) (citizen.OneTimeKey, []byte, error) {
			return a.hsm.GenerateWrappedKey(ctx, z.WrapKey)
		}
		s.Unwrap = func(ctx context.Context, wrapped []byte, pub crypto.PublicKey) (citizen.OneTimeKey, error) {
			ec, ok := pub.(*ecdsa.PublicKey)
			if !ok {
				return nil, errors.New("citizen: the long-term key is not a P-256 key")
			}
			return a.hsm.UnwrapKey(ctx, z.WrapKey, wrapped, ec)
		}
	}
	return &s, nil
}

// withCSC serves the CSC API under /csc/v2/ next to the admin API.
func (a *app) withCSC(ctx context.Context, cfg *Config, admin http.Handler, logger *slog.Logger, reg prometheus.Registerer) (http.Handler, error) {
	svc, err := a.citizens(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := a.citizenSigning(ctx, cfg, svc, reg); err != nil {
		return nil, err
	}
	var clients []csc.Client
	for i, c := range cfg.Citizen.CSCClients {
		f := fmt.Sprintf("citizen.csc_clients[%d]", i)
		cl := csc.Client{ID: c.ID}
		if c.SecretFile != "" {
			secret, err := os.ReadFile(conf.Resolve(cfg.path, c.SecretFile))
			if err != nil {
				return nil, conf.Errorf(f+".secret_file", "%v", err)
			}
			sum := sha256.Sum256(bytes.TrimSpace(secret))
			cl.SecretSHA256 = sum[:]
		}
		if c.CertificateSHA256 != "" {
			if cl.CertificateSHA256, err = hex.DecodeString(strings.ReplaceAll(c.CertificateSHA256, ":", "")); err != nil || len(cl.CertificateSHA256) != 32 {
				return nil, conf.Errorf(f+".certificate_sha256", "must be the hex SHA-256 of the client certificate")
			}
		}
		if c.ID == "" || cl.SecretSHA256 == nil && cl.CertificateSHA256 == nil {
			return nil, conf.Errorf(f, "needs an id and a secret_file or certificate_sha256")
		}
		clients = append(clients, cl)
	}
	api, err := csc.New(csc.Config{Citizens: svc, Clients: clients, MaxBodyBytes: 2 * cfg.Signer.MaxDocumentBytes, Logger: logger})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(csc.Prefix, api)
	mux.Handle("/", admin)
	return mux, nil
}
