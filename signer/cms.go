package signer

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"time"

	"github.com/oces-pki/oces/cades"
)

// SignCAdES makes a detached CAdES signature of content at req.Level
// (EN 319 122-1): B-B with signing-time, B-T with a signature time-stamp,
// B-LT with the chains and status of the signer and the time-stamping unit
// in SignedData.certificates and .crls, B-LTA with an archive-time-stamp-v3.
func (s *Service) SignCAdES(ctx context.Context, req Request, content []byte) ([]byte, error) {
	if err := s.check(&req); err != nil {
		return nil, err
	}
	h := req.Hash.New()
	h.Write(content)
	return s.signCAdES(ctx, &req, h.Sum(nil), content)
}

// SignDigest makes a detached CAdES signature of a document the caller
// hashed with req.Hash, for documents too large to send. B-LTA needs the
// document itself: ask for B-LT and extend with the document later.
func (s *Service) SignDigest(ctx context.Context, req Request, digest []byte) ([]byte, error) {
	if err := s.check(&req); err != nil {
		return nil, err
	}
	if len(digest) != req.Hash.Size() {
		return nil, fmt.Errorf("%w: the digest has %d bytes; %v has %d", ErrInvalidRequest, len(digest), req.Hash, req.Hash.Size())
	}
	if req.Level == cades.LevelBLTA {
		return nil, fmt.Errorf("%w: B-LTA covers the document itself; sign the hash at B-LT and extend with the document", ErrInvalidRequest)
	}
	return s.signCAdES(ctx, &req, digest, nil)
}

func (s *Service) signCAdES(ctx context.Context, req *Request, digest, content []byte) ([]byte, error) {
	status, err := s.checkCertificate(ctx, req)
	if err != nil {
		return nil, err
	}
	der, err := s.audited(ctx, req, "cades", digest, func() ([]byte, error) {
		return s.cms(ctx, req, digest, s.now())
	})
	if err != nil {
		return nil, err
	}
	if req.Level >= cades.LevelBLT {
		if err := s.tokenEvidence(ctx, der, status); err != nil {
			return nil, err
		}
		if der, err = addValidationData(der, status); err != nil {
			return nil, err
		}
	}
	if req.Level == cades.LevelBLTA {
		if der, err = cades.AddArchiveTimeStamp(ctx, der, bytes.NewReader(content), s.stamper(), req.Hash); err != nil {
			return nil, err
		}
	}
	return der, nil
}

// ExtendCAdES raises a detached CAdES signature of content to req.Level.
// On a B-LTA signature, B-LTA adds the validation data of the last archive
// time-stamp and a new one over everything (renewal).
func (s *Service) ExtendCAdES(ctx context.Context, req ExtendRequest, cms, content []byte) ([]byte, error) {
	if req.Level < cades.LevelBT || req.Level > cades.LevelBLTA {
		return nil, fmt.Errorf("%w: a signature is extended to B-T, B-LT or B-LTA", ErrInvalidRequest)
	}
	if s.tsa == nil {
		return nil, fmt.Errorf("%w: extending needs a time-stamp authority", ErrInvalidRequest)
	}
	sd, err := cades.Parse(cms)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	if len(sd.Signers) == 0 {
		return nil, fmt.Errorf("%w: the CMS has no signer", ErrInvalidDocument)
	}
	for _, si := range sd.Signers {
		h := si.Hash.New()
		h.Write(content)
		if !bytes.Equal(h.Sum(nil), si.MessageDigest) {
			return nil, fmt.Errorf("%w: the content is not the one signed (message-digest differs)", ErrInvalidDocument)
		}
	}
	der := cms
	if len(sd.Signers[0].SignatureTimeStamps) == 0 {
		if der, err = cades.AddSignatureTimeStamp(ctx, der, s.stamper(), crypto.SHA256); err != nil {
			return nil, err
		}
	}
	if req.Level >= cades.LevelBLT {
		var e evidence
		if err := s.cmsEvidence(ctx, der, &e, true); err != nil {
			return nil, err
		}
		if der, err = addValidationData(der, &e); err != nil {
			return nil, err
		}
	}
	if req.Level == cades.LevelBLTA {
		if der, err = cades.AddArchiveTimeStamp(ctx, der, bytes.NewReader(content), s.stamper(), crypto.SHA256); err != nil {
			return nil, err
		}
	}
	return der, nil
}

// cms makes the CMS of one signature: B-B, plus the signature
// time-stamp from B-T.
func (s *Service) cms(ctx context.Context, req *Request, digest []byte, signingTime time.Time) ([]byte, error) {
	der, err := cades.SignDigest(ctx, req.Seal.Key, digest, cades.SignOptions{
		Hash: req.Hash, PSS: req.PSS, Certificates: s.cmsCertificates(req.Seal.Chain), SigningTime: signingTime,
	})
	if err != nil {
		return nil, fmt.Errorf("signer: signing with %q: %w", req.Seal.Name, err)
	}
	if req.Level >= cades.LevelBT {
		if der, err = cades.AddSignatureTimeStamp(ctx, der, s.stamper(), req.Hash); err != nil {
			return nil, err
		}
	}
	return der, nil
}

func addValidationData(der []byte, e *evidence) ([]byte, error) {
	out, err := cades.AddValidationData(der, cades.ValidationData{Certificates: e.certs, OCSPResponses: e.ocsps, CRLs: e.crls})
	if err != nil {
		return nil, fmt.Errorf("signer: adding validation data: %w", err)
	}
	return out, nil
}

// stamper is the TSA, learning the size of its tokens for /Contents.
func (s *Service) stamper() cades.Timestamper { return sizing{s} }

type sizing struct{ s *Service }

func (z sizing) Timestamp(ctx context.Context, digest []byte, hash crypto.Hash) ([]byte, error) {
	tok, err := z.s.tsa.Timestamp(ctx, digest, hash)
	if err != nil {
		return nil, err
	}
	z.s.tstSize.Store(int64(len(tok)))
	return tok, nil
}
