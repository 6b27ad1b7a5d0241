// PdfBoxTool signs and verifies PDF signatures with Apache PDFBox and
// Bouncy Castle, implementations independent of the pades package, for its
// tests (pdfbox_test.go compiles and runs it when java is installed).
//
//   java PdfBoxTool sign IN OUT KEY.p8 CERT.der [CHAIN.der…]
//       adds an ETSI.CAdES.detached signature, saved incrementally
//   java PdfBoxTool verify IN
//       prints one line per signature: field, subfilter, whether the CMS
//       (or, for ETSI.RFC3161, the time-stamp token's imprint and
//       signature) checks out over the /ByteRange, whether the range
//       covers the file, and the number of revisions PDFBox saw
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Calendar;
import java.util.List;

import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.PDSignature;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.tsp.TimeStampToken;
import org.bouncycastle.util.Store;

public class PdfBoxTool {
    public static void main(String[] args) throws Exception {
        if (args.length >= 5 && args[0].equals("sign")) {
            sign(args);
        } else if (args.length == 2 && args[0].equals("verify")) {
            verify(new File(args[1]));
        } else {
            System.err.println("usage: PdfBoxTool sign IN OUT KEY.p8 CERT.der [CHAIN.der...] | verify IN");
            System.exit(2);
        }
    }

    static X509Certificate cert(String path) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        try (InputStream in = Files.newInputStream(new File(path).toPath())) {
            return (X509Certificate) cf.generateCertificate(in);
        }
    }

    static void sign(String[] args) throws Exception {
        byte[] p8 = Files.readAllBytes(new File(args[3]).toPath());
        PrivateKey key = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(p8));
        List<X509Certificate> chain = new ArrayList<>();
        for (int i = 4; i < args.length; i++) {
            chain.add(cert(args[i]));
        }
        try (PDDocument doc = PDDocument.load(new File(args[1]));
             FileOutputStream out = new FileOutputStream(args[2])) {
            PDSignature sig = new PDSignature();
            sig.setFilter(PDSignature.FILTER_ADOBE_PPKLITE);
            sig.setSubFilter(PDSignature.SUBFILTER_ETSI_CADES_DETACHED);
            sig.setName("PDFBox signer");
            sig.setReason("An earlier signature by another implementation");
            sig.setSignDate(Calendar.getInstance());
            doc.addSignature(sig, content -> {
                try {
                    ByteArrayOutputStream buf = new ByteArrayOutputStream();
                    content.transferTo(buf);
                    CMSSignedDataGenerator gen = new CMSSignedDataGenerator();
                    gen.addSignerInfoGenerator(new JcaSignerInfoGeneratorBuilder(
                            new JcaDigestCalculatorProviderBuilder().build())
                            .build(new JcaContentSignerBuilder("SHA256withECDSA").build(key), chain.get(0)));
                    gen.addCertificates(new JcaCertStore(chain));
                    return gen.generate(new CMSProcessableByteArray(buf.toByteArray()), false).getEncoded();
                } catch (Exception e) {
                    throw new java.io.IOException(e);
                }
            });
            doc.saveIncremental(out);
        }
    }

    @SuppressWarnings("unchecked")
    static void verify(File f) throws Exception {
        byte[] file = Files.readAllBytes(f.toPath());
        try (PDDocument doc = PDDocument.load(f)) {
            for (PDSignature sig : doc.getSignatureDictionaries()) {
                byte[] contents = sig.getContents(file);
                byte[] signed = sig.getSignedContent(file);
                int[] br = sig.getByteRange();
                boolean whole = br.length == 4 && br[2] + br[3] == file.length;
                String sub = sig.getSubFilter();
                boolean ok;
                try {
                    if ("ETSI.RFC3161".equals(sub)) {
                        TimeStampToken tst = new TimeStampToken(new CMSSignedData(contents));
                        MessageDigest md = MessageDigest.getInstance(tst.getTimeStampInfo().getHashAlgorithm().getAlgorithm().getId());
                        ok = Arrays.equals(md.digest(signed), tst.getTimeStampInfo().getMessageImprintDigest());
                        X509CertificateHolder tsa = (X509CertificateHolder) tst.getCertificates().getMatches(tst.getSID()).iterator().next();
                        tst.validate(new JcaSimpleSignerInfoVerifierBuilder().build(tsa));
                    } else {
                        CMSSignedData cms = new CMSSignedData(new CMSProcessableByteArray(signed), contents);
                        Store<X509CertificateHolder> certs = cms.getCertificates();
                        ok = !cms.getSignerInfos().getSigners().isEmpty();
                        for (SignerInformation si : cms.getSignerInfos().getSigners()) {
                            X509CertificateHolder c = (X509CertificateHolder) certs.getMatches(si.getSID()).iterator().next();
                            ok &= si.verify(new JcaSimpleSignerInfoVerifierBuilder().build(c));
                        }
                    }
                } catch (Exception e) {
                    System.out.println("error " + sig.getName() + ": " + e);
                    ok = false;
                }
                System.out.println("signature field=" + fieldName(doc, sig) + " subfilter=" + sub + " valid=" + ok + " whole=" + whole);
            }
        }
    }

    static String fieldName(PDDocument doc, PDSignature sig) throws Exception {
        for (org.apache.pdfbox.pdmodel.interactive.form.PDSignatureField fld : doc.getSignatureFields()) {
            if (fld.getSignature() != null && fld.getSignature().getCOSObject() == sig.getCOSObject()) {
                return fld.getFullyQualifiedName();
            }
        }
        return "?";
    }
}
