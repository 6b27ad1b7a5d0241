// Package pades reads the structure of PDF files and writes the incremental
// updates that make PAdES signatures (ETSI EN 319 142-1, PAdES digital
// signatures, Part 1: Building blocks and PAdES baseline signatures).
//
// It is a format package: it holds no keys and makes no network calls. The
// CMS that goes into a signature and the RFC 3161 token that goes into a
// document time-stamp come from callbacks (ContentsFunc), so the signing
// service builds them with its own keys and TSA client.
//
// What it writes, by PAdES baseline level:
//
//   - B-B and B-T (EN 319 142-1 clause 6): Document.Sign adds a
//     signature field with its widget annotation (ISO 32000-1 12.7.4.5,
//     12.5.6.19), or fills an empty signature field the form has, and a
//     signature dictionary (ISO 32000-1 12.8.1, Table 252)
//     with /Filter /Adobe.PPKLite, /SubFilter /ETSI.CAdES.detached, a
//     /ByteRange that covers the whole file except the /Contents value, and
//     the signing time in /M (PAdES baseline signatures carry it there, not
//     in a CMS signing-time attribute). A signature-time-stamp, for B-T,
//     is an unsigned attribute of the CMS and so the caller's business.
//   - Certification signatures (ISO 32000-1 12.8.2.2; ISO 32000-2 12.8.2.2):
//     SignatureOptions.DocMDP makes the first signature of a document a
//     certification signature with a DocMDP transform and /Perms /DocMDP in
//     the catalog. Under P=1 a later signature is refused (ErrDocMDP); a DSS
//     or a document time-stamp is permitted under any P: incremental updates
//     that only add those are not changes (ISO 32000-2 12.8.2.2.2, Table
//     257, P), which is what lets PAdES raise a certified document to B-LT
//     and B-LTA.
//   - B-LT (EN 319 142-1 clause 6): Document.AddDSS adds or extends the
//     Document Security Store (ISO 32000-2 12.8.4.3, Tables 261 and 262);
//     Document.VRIKey names a signature's /VRI entry.
//   - B-LTA (EN 319 142-1 clause 6): Document.AddDocTimeStamp adds a
//     document time-stamp (ISO 32000-2 12.8.5, Table 263) with /SubFilter
//     /ETSI.RFC3161.
//
// Files older than PDF 2.0 get the ETSI developer extension /ESIC declared
// in the catalog's /Extensions (ISO 32000-1 7.12; EN 319 142-1 clause 5:
// BaseVersion 1.7, ExtensionLevel 2 for ETSI.CAdES.detached signatures and
// 1 for the DSS and document time-stamps; a higher level already declared is
// kept), and a catalog /Version of at least 1.7, the extension's base
// version (ISO 32000-1 7.12.3).
//
// Every write is an incremental update (ISO 32000-1 7.5.6): the original
// bytes followed by new and changed objects as plain indirect objects, a
// cross-reference section in the style of the file's last one (a
// cross-reference stream, ISO 32000-1 7.5.8, or a classic table), and a
// trailer whose /Prev points at the previous section. Earlier signatures
// therefore stay valid, and a signature's /ByteRange ends where its
// revision ends.
//
// The cross-reference table is this package's own reading of the trailer
// chain (classic tables, cross-reference streams, hybrid files); objects
// are parsed by pdfcpu's object parser (github.com/pdfcpu/pdfcpu) and
// decoded by its filters when they are needed, from the caller's bytes,
// never copied whole. Reading every object up front, as pdfcpu's
// api.ReadContext does, keeps each parsed object with its read buffer: ten
// times the memory of this way for files of many small objects.
//
// Input is untrusted: every offset, length and /ByteRange is
// bounds-checked, every cross-reference entry must point at its object,
// and a damaged, truncated or encrypted file is refused (ErrMalformed,
// ErrNotPDF, ErrEncrypted) rather than repaired, because an update on a
// repaired file does not read the same in every viewer.
package pades
