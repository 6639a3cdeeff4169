// A self-signed certificate for 127.0.0.1 and localhost, made once per test
// process, for wss:// tests. The certificate is its own trust anchor. It is an
// end-entity certificate (cA: false) signed with SHA-256: Deno's rustls
// refuses a CA certificate used as a server's own (CaUsedAsEndEntity) and
// SHA-1 signatures, while OpenSSL and BoringSSL accept either.
import selfsigned from "selfsigned";

export interface TestCertificate {
  /** PEM certificate (also the CA to trust). */
  cert: string;
  /** PEM private key. */
  key: string;
}

let made: Promise<TestCertificate> | null = null;

/** The test certificate, generated on first use. */
export function testCertificate(): Promise<TestCertificate> {
  made ??= (async () => {
    const pems = await selfsigned.generate([{ name: "commonName", value: "localhost" }], {
      notAfterDate: new Date(Date.now() + 2 * 24 * 3600 * 1000),
      keySize: 2048,
      algorithm: "sha256",
      extensions: [
        { name: "basicConstraints", cA: false },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
        { name: "extKeyUsage", serverAuth: true, clientAuth: true },
        { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }] },
      ],
    });
    return { cert: pems.cert, key: pems.private };
  })();
  return made;
}
