// A self-signed certificate for 127.0.0.1 and localhost, made once per test
// process, for wss:// tests. The certificate is its own CA.
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
      extensions: [
        { name: "basicConstraints", cA: true },
        { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }] },
      ],
    });
    return { cert: pems.cert, key: pems.private };
  })();
  return made;
}
