// PDFBoxCheck opens a PDF with Apache PDFBox 2 and prints, as one JSON
// object, what PDFBox sees of its signatures: for each signature field with
// a value, the dictionary's entries, the /ByteRange and whether it is
// well-formed and covers the file, and what Bouncy Castle says of the CMS
// (the signer's signature and message digest over the signed bytes; for a
// document time-stamp, the token's signature and message imprint).
//
// Usage: java PDFBoxCheck file.pdf [password]
// Exit status: 0 when the file opened (problems with signatures are
// reported in the JSON), 1 when PDFBox could not open it.
import java.io.File;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.security.Security;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;

import org.apache.pdfbox.cos.COSDictionary;
import org.apache.pdfbox.cos.COSName;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.PDSignature;
import org.apache.pdfbox.pdmodel.interactive.form.PDSignatureField;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.tsp.TimeStampToken;
import org.bouncycastle.util.Selector;

public class PDFBoxCheck {
    public static void main(String[] args) {
        Security.addProvider(new BouncyCastleProvider());
        StringBuilder out = new StringBuilder("{");
        int status = 0;
        try {
            byte[] file = Files.readAllBytes(new File(args[0]).toPath());
            String password = args.length > 1 ? args[1] : "";
            try (PDDocument doc = PDDocument.load(file, password)) {
                out.append("\"pages\":").append(doc.getNumberOfPages());
                out.append(",\"version\":").append(str(String.valueOf(doc.getVersion())));
                out.append(",\"encrypted\":").append(doc.isEncrypted());
                out.append(",\"signatures\":[");
                boolean first = true;
                for (PDSignatureField field : doc.getSignatureFields()) {
                    PDSignature sig = field.getSignature();
                    if (sig == null) {
                        continue;
                    }
                    if (!first) {
                        out.append(',');
                    }
                    first = false;
                    out.append(signature(field, sig, file));
                }
                out.append("]");
            }
        } catch (Throwable e) {
            out.append("\"error\":").append(str(e.toString()));
            status = 1;
        }
        System.out.println(out.append("}"));
        System.exit(status);
    }

    static String signature(PDSignatureField field, PDSignature sig, byte[] file) {
        List<String> problems = new ArrayList<>();
        StringBuilder b = new StringBuilder("{");
        b.append("\"field\":").append(str(field.getFullyQualifiedName()));
        COSDictionary d = sig.getCOSObject();
        b.append(",\"type\":").append(str(d.getNameAsString(COSName.TYPE)));
        b.append(",\"filter\":").append(str(sig.getFilter()));
        b.append(",\"subFilter\":").append(str(sig.getSubFilter()));
        b.append(",\"name\":").append(str(sig.getName()));
        b.append(",\"reason\":").append(str(sig.getReason()));
        b.append(",\"signDate\":").append(str(sig.getSignDate() == null ? null : sig.getSignDate().toInstant().toString()));
        int[] br = sig.getByteRange();
        b.append(",\"byteRange\":").append(Arrays.toString(br));
        boolean wellFormed = br.length == 4 && br[0] == 0 && br[1] > 0 && br[2] > br[1] && br[3] >= 0
                && (long) br[2] + br[3] <= file.length;
        boolean gap = wellFormed && file[br[1]] == '<' && file[br[2] - 1] == '>';
        boolean covers = wellFormed && (long) br[2] + br[3] == file.length;
        b.append(",\"byteRangeWellFormed\":").append(wellFormed);
        b.append(",\"gapIsContents\":").append(gap);
        b.append(",\"coversDocument\":").append(covers);
        if (!wellFormed) {
            problems.add("ByteRange " + Arrays.toString(br) + " is not [0 a b c] with 0<a<b and b+c within the file of " + file.length + " bytes");
        } else if (!gap) {
            problems.add("the ByteRange gap is not exactly the hex string of /Contents");
        }
        if (wellFormed) {
            byte[] signed = new byte[br[1] + br[3]];
            System.arraycopy(file, 0, signed, 0, br[1]);
            System.arraycopy(file, br[2], signed, br[1], br[3]);
            try {
                byte[] contents = sig.getContents(file);
                b.append(",\"contentsLength\":").append(contents.length);
                cms(b, problems, contents, signed, "ETSI.RFC3161".equals(sig.getSubFilter()));
            } catch (Exception e) {
                problems.add("reading /Contents: " + e);
            }
        }
        b.append(",\"problems\":[");
        for (int i = 0; i < problems.size(); i++) {
            b.append(i > 0 ? "," : "").append(str(problems.get(i)));
        }
        return b.append("]}").toString();
    }

    // cms verifies the CMS in contents over the signed bytes; trailing zero
    // padding of /Contents is ignored by the DER parser.
    @SuppressWarnings("unchecked")
    static void cms(StringBuilder b, List<String> problems, byte[] contents, byte[] signed, boolean timestamp) {
        boolean valid = false;
        String subject = null;
        try {
            CMSSignedData cms = new CMSSignedData(new CMSProcessableByteArray(signed), contents);
            if (timestamp) {
                TimeStampToken tst = new TimeStampToken(new CMSSignedData(contents));
                Collection<X509CertificateHolder> certs = tst.getCertificates().getMatches((Selector<X509CertificateHolder>) tst.getSID());
                if (certs.isEmpty()) {
                    problems.add("the time-stamp token carries no TSA certificate");
                } else {
                    X509CertificateHolder cert = certs.iterator().next();
                    subject = cert.getSubject().toString();
                    tst.validate(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(cert));
                    String alg = tst.getTimeStampInfo().getMessageImprintAlgOID().getId();
                    byte[] digest = MessageDigest.getInstance(alg, "BC").digest(signed);
                    if (Arrays.equals(digest, tst.getTimeStampInfo().getMessageImprintDigest())) {
                        valid = true;
                    } else {
                        problems.add("the time-stamp token's message imprint is not the digest of the signed bytes");
                    }
                    b.append(",\"genTime\":").append(str(tst.getTimeStampInfo().getGenTime().toInstant().toString()));
                }
            } else {
                Collection<SignerInformation> signers = cms.getSignerInfos().getSigners();
                if (signers.size() != 1) {
                    problems.add("CMS has " + signers.size() + " signers");
                }
                valid = !signers.isEmpty();
                for (SignerInformation si : signers) {
                    Collection<X509CertificateHolder> certs = cms.getCertificates().getMatches((Selector<X509CertificateHolder>) si.getSID());
                    if (certs.isEmpty()) {
                        problems.add("the CMS carries no certificate for its signer");
                        valid = false;
                        continue;
                    }
                    X509CertificateHolder cert = certs.iterator().next();
                    subject = cert.getSubject().toString();
                    if (!si.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(cert))) {
                        problems.add("the signer's signature does not verify");
                        valid = false;
                    }
                }
            }
        } catch (Exception e) {
            problems.add("verifying the CMS: " + e);
            valid = false;
        }
        b.append(",\"signer\":").append(str(subject));
        b.append(",\"cmsValid\":").append(valid);
    }

    static String str(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }
}
