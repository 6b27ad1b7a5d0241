// CorpusSign signs a PDF as Apache PDFBox and Bouncy Castle do for their
// users: PDFBox writes the incremental update, the signature dictionary and
// the /ByteRange; Bouncy Castle's CMSSignedDataGenerator makes a detached
// CMS SignedData with the signed attributes of a CAdES baseline signature
// (EN 319 122-1: content-type, message-digest, ESS signing-certificate-v2;
// no signing-time, as EN 319 142-1 clause 5.2 wants for PAdES).
//
// With the mode "timestamp" it adds a document time-stamp instead
// (ISO 32000-2 clause 12.8.5, EN 319 142-1 clause 5.4: /Type /DocTimeStamp,
// ETSI.RFC3161), whose RFC 3161 token Bouncy Castle's
// TimeStampTokenGenerator makes with the test TSA key: a TSA in a box.
//
// Usage: java CorpusSign sign|timestamp in.pdf out.pdf key.pem cert.pem root.pem dateMillis
import java.io.File;
import java.io.FileOutputStream;
import java.io.FileReader;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Calendar;
import java.util.List;
import java.util.TimeZone;

import org.apache.pdfbox.cos.COSName;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.PDSignature;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.SignatureOptions;
import org.bouncycastle.asn1.ASN1EncodableVector;
import org.bouncycastle.asn1.DERSet;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.cms.CMSAttributes;
import org.bouncycastle.asn1.ess.ESSCertIDv2;
import org.bouncycastle.asn1.ess.SigningCertificateV2;
import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.IssuerSerial;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.CMSAttributeTableGenerator;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.DefaultSignedAttributeTableGenerator;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;

public class CorpusSign {
    public static void main(String[] argv) throws Exception {
        String mode = argv[0];
        String[] args = java.util.Arrays.copyOfRange(argv, 1, argv.length);
        PrivateKey key;
        try (PEMParser p = new PEMParser(new FileReader(args[2]))) {
            key = new JcaPEMKeyConverter().getPrivateKey((PrivateKeyInfo) p.readObject());
        }
        X509Certificate cert = readCert(args[3]);
        X509Certificate root = readCert(args[4]);
        List<X509Certificate> chain = new ArrayList<>();
        chain.add(cert);
        chain.add(root);

        Calendar when = Calendar.getInstance(TimeZone.getTimeZone("UTC"));
        when.setTimeInMillis(Long.parseLong(args[5]));
        try (PDDocument doc = PDDocument.load(new File(args[0]));
             FileOutputStream out = new FileOutputStream(args[1])) {
            if (mode.equals("timestamp")) {
                PDSignature dts = new PDSignature();
                dts.setType(COSName.getPDFName("DocTimeStamp"));
                dts.setFilter(PDSignature.FILTER_ADOBE_PPKLITE);
                dts.setSubFilter(COSName.getPDFName("ETSI.RFC3161"));
                SignatureOptions opts = new SignatureOptions();
                opts.setPreferredSignatureSize(8192);
                doc.addSignature(dts, content -> token(content, key, cert, chain, when.getTime()), opts);
                doc.saveIncremental(out);
                return;
            }
            PDSignature sig = new PDSignature();
            sig.setFilter(PDSignature.FILTER_ADOBE_PPKLITE);
            sig.setSubFilter(COSName.getPDFName("ETSI.CAdES.detached"));
            sig.setName("OCES Corpus Test Signer");
            sig.setReason("OCES corpus fixture");
            sig.setLocation("Copenhagen");
            sig.setSignDate(when);
            SignatureOptions opts = new SignatureOptions();
            opts.setPreferredSignatureSize(8192);
            doc.addSignature(sig, content -> cms(content, key, cert, chain), opts);
            doc.saveIncremental(out);
        }
    }

    // token returns a TimeStampToken over the SHA-256 of content, signed by
    // the TSA key with the ESS signing-certificate-v2 attribute, carrying
    // the TSA and root certificates, genTime at, serial 1.
    static byte[] token(InputStream content, PrivateKey key, X509Certificate cert, List<X509Certificate> chain, java.util.Date at) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(content.readAllBytes());
            org.bouncycastle.tsp.TimeStampTokenGenerator gen = new org.bouncycastle.tsp.TimeStampTokenGenerator(
                    new org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoGeneratorBuilder().build("SHA256withRSA", key, cert),
                    new JcaDigestCalculatorProviderBuilder().build().get(new AlgorithmIdentifier(NISTObjectIdentifiers.id_sha256)),
                    new org.bouncycastle.asn1.ASN1ObjectIdentifier("1.3.6.1.4.1.99999.1.1"));
            gen.addCertificates(new JcaCertStore(chain));
            org.bouncycastle.tsp.TimeStampRequestGenerator rg = new org.bouncycastle.tsp.TimeStampRequestGenerator();
            rg.setCertReq(true);
            org.bouncycastle.tsp.TimeStampRequest req = rg.generate(org.bouncycastle.tsp.TSPAlgorithms.SHA256, digest);
            return gen.generate(req, java.math.BigInteger.ONE, at).getEncoded();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    static X509Certificate readCert(String path) throws Exception {
        try (PEMParser p = new PEMParser(new FileReader(path))) {
            X509CertificateHolder h = (X509CertificateHolder) p.readObject();
            return new org.bouncycastle.cert.jcajce.JcaX509CertificateConverter().getCertificate(h);
        }
    }

    static byte[] cms(InputStream content, PrivateKey key, X509Certificate cert, List<X509Certificate> chain) {
        try {
            byte[] data = content.readAllBytes();
            byte[] certHash = MessageDigest.getInstance("SHA-256").digest(cert.getEncoded());
            X509CertificateHolder holder = new X509CertificateHolder(cert.getEncoded());
            IssuerSerial is = new IssuerSerial(new GeneralNames(new GeneralName(holder.getIssuer())), holder.getSerialNumber());
            ESSCertIDv2 id = new ESSCertIDv2(new AlgorithmIdentifier(NISTObjectIdentifiers.id_sha256), certHash, is);
            Attribute signingCert = new Attribute(PKCSObjectIdentifiers.id_aa_signingCertificateV2,
                    new DERSet(new SigningCertificateV2(new ESSCertIDv2[] {id})));
            ASN1EncodableVector v = new ASN1EncodableVector();
            v.add(signingCert);
            DefaultSignedAttributeTableGenerator base = new DefaultSignedAttributeTableGenerator(new AttributeTable(v));
            CMSAttributeTableGenerator noSigningTime = params -> base.getAttributes(params).remove(CMSAttributes.signingTime);

            CMSSignedDataGenerator gen = new CMSSignedDataGenerator();
            gen.addSignerInfoGenerator(new JcaSignerInfoGeneratorBuilder(new JcaDigestCalculatorProviderBuilder().build())
                    .setSignedAttributeGenerator(noSigningTime)
                    .build(new JcaContentSignerBuilder("SHA256withRSA").build(key), cert));
            gen.addCertificates(new JcaCertStore(chain));
            return gen.generate(new CMSProcessableByteArray(data), false).getEncoded("DER");
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }
}
