import { X509Certificate, type KeyObject } from 'node:crypto';
import {
  generatePrivateKey,
  issueCertificate,
  privateKeyFromPem,
  privateKeyToPem,
  type KeyAlgorithm,
  type KeyEncoding,
  type KeyUsageName,
} from './issueCertificate.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A leaf issued by a {@link CertificateAuthority}, laid out as cert-manager writes a Secret. */
export interface IssuedLeaf {
  /** `tls.crt`: the leaf, followed by the intermediates between it and `ca.crt`. */
  certPem: string;
  /** `tls.key` */
  keyPem: string;
  /** `ca.crt`: the root-most CA of the chain. */
  caPem: string;
  /** The leaf alone, parsed. */
  leaf: X509Certificate;
}

/**
 * What a leaf should look like; every field has a default that makes a valid serving leaf
 * shaped like the ones cert-manager issues on this platform: an empty subject (the policy sets
 * no commonName), DNS SANs only, keyUsage digitalSignature + keyEncipherment and no
 * extendedKeyUsage. Only the key differs by default (ECDSA P-256, fast to make); pass
 * `keyAlgorithm: 'rsa-2048'` for cert-manager's default key, written as PKCS#1.
 */
export interface LeafOptions {
  dnsNames?: string[];
  ipAddresses?: string[];
  /** URI subjectAltNames, such as a SPIFFE ID. Default none. */
  uris?: string[];
  /** Default: none, an empty subject. */
  commonName?: string;
  /** Subject O values: Kubernetes reads them as a client certificate's groups. */
  organization?: string[];
  keyAlgorithm?: KeyAlgorithm;
  keyEncoding?: KeyEncoding;
  /** Use this key instead of making a new one. */
  key?: KeyObject;
  /** Default: one minute ago. */
  notBefore?: Date;
  /** Default: notBefore plus 90 days. */
  notAfter?: Date;
  /** Default: no extendedKeyUsage extension (any use), as cert-manager issues without `usages`. */
  extendedKeyUsage?: Array<'serverAuth' | 'clientAuth'>;
  /** Default digitalSignature and keyEncipherment (cert-manager's default usages). */
  keyUsage?: KeyUsageName[];
  /** 'sha1': a SHA-1 signature, which clients (and the gate) refuse. Default SHA-256. */
  signatureDigest?: 'sha1';
}

/** How a CA is made. */
export interface CertificateAuthorityOptions {
  commonName?: string;
  keyAlgorithm?: KeyAlgorithm;
  notBefore?: Date;
  /** Default: notBefore plus 10 years. */
  notAfter?: Date;
  /** pathLenConstraint. Default: none. */
  pathLength?: number;
  /** Write subject and authority key identifiers. Default true; false makes a CA told apart from another of the same name only by its signature. */
  keyIdentifiers?: boolean;
}

/**
 * A certificate authority in memory (or loaded from PEM) that issues serving leaves and
 * intermediates. Used by the local development source and by tests; never for verification.
 */
export class CertificateAuthority {
  readonly cert: X509Certificate;
  readonly certPem: string;
  readonly key: KeyObject;
  /** Intermediates from this CA up to (excluding) the root, this CA first; empty for a root. */
  readonly chainPem: string;
  /** The root CA's certificate: what cert-manager writes as `ca.crt`. */
  readonly rootPem: string;

  private constructor(certPem: string, key: KeyObject, chainPem: string, rootPem: string) {
    this.certPem = certPem;
    this.cert = new X509Certificate(certPem);
    this.key = key;
    this.chainPem = chainPem;
    this.rootPem = rootPem || certPem;
  }

  /** Makes a new self-signed root CA. */
  static create(options: CertificateAuthorityOptions = {}): CertificateAuthority {
    const key = generatePrivateKey(options.keyAlgorithm ?? 'ecdsa-p256');
    const notBefore = options.notBefore ?? new Date(Date.now() - HOUR);
    const certPem = issueCertificate({
      subject: { commonName: options.commonName ?? 'serving-cert test root CA' },
      subjectKey: key,
      notBefore,
      notAfter: options.notAfter ?? new Date(notBefore.getTime() + 3650 * DAY),
      isCa: true,
      ...caExtras(options),
    });
    return new CertificateAuthority(certPem, key, '', '');
  }

  /** Loads a CA from its certificate and key PEM. */
  static fromPem(certPem: string, keyPem: string): CertificateAuthority {
    return new CertificateAuthority(certPem, privateKeyFromPem(keyPem), '', '');
  }

  /** `keyPem` of this CA's private key, PKCS#8. */
  get keyPem(): string {
    return privateKeyToPem(this.key);
  }

  /** Issues an intermediate CA signed by this one. */
  intermediate(options: CertificateAuthorityOptions = {}): CertificateAuthority {
    const key = generatePrivateKey(options.keyAlgorithm ?? 'ecdsa-p256');
    const notBefore = options.notBefore ?? new Date(Date.now() - HOUR);
    const certPem = issueCertificate({
      subject: { commonName: options.commonName ?? 'serving-cert test intermediate CA' },
      subjectKey: key,
      issuer: { cert: this.cert, key: this.key },
      notBefore,
      notAfter: options.notAfter ?? new Date(notBefore.getTime() + 1825 * DAY),
      isCa: true,
      ...caExtras(options),
    });
    return new CertificateAuthority(certPem, key, certPem + this.chainPem, this.rootPem);
  }

  /**
   * Issues a serving leaf: by default for `localhost` with a new ECDSA P-256 key, valid 90 days,
   * with an empty subject and no extendedKeyUsage (see {@link LeafOptions}).
   */
  issue(options: LeafOptions = {}): IssuedLeaf {
    const key = options.key ?? generatePrivateKey(options.keyAlgorithm ?? 'ecdsa-p256');
    const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
    const dnsNames = options.dnsNames ?? ['localhost'];
    const leafPem = issueCertificate({
      subject: {
        ...(options.commonName !== undefined ? { commonName: options.commonName } : {}),
        ...(options.organization ? { organization: options.organization } : {}),
      },
      subjectKey: key,
      issuer: { cert: this.cert, key: this.key },
      notBefore,
      notAfter: options.notAfter ?? new Date(notBefore.getTime() + 90 * DAY),
      dnsNames,
      ipAddresses: options.ipAddresses ?? [],
      uris: options.uris ?? [],
      extendedKeyUsage: options.extendedKeyUsage ?? [],
      ...(options.keyUsage ? { keyUsage: options.keyUsage } : {}),
      ...(options.signatureDigest ? { signatureDigest: options.signatureDigest } : {}),
    });
    const encoding = options.keyEncoding ?? defaultEncoding(key);
    // As cert-manager's CA issuer writes a Secret: the intermediates follow the leaf in
    // tls.crt, and ca.crt holds the root-most CA.
    return {
      certPem: leafPem + this.chainPem,
      keyPem: privateKeyToPem(key, encoding),
      caPem: this.rootPem,
      leaf: new X509Certificate(leafPem),
    };
  }

  /** Issues a client certificate for a Kubernetes user: CN = user, O = groups, clientAuth only. */
  issueClient(user: string, groups: string[] = []): IssuedLeaf {
    return this.issue({ commonName: user, organization: groups, dnsNames: [], extendedKeyUsage: ['clientAuth'] });
  }
}

function caExtras(options: CertificateAuthorityOptions): { pathLength?: number; keyIdentifiers?: boolean } {
  return {
    ...(options.pathLength === undefined ? {} : { pathLength: options.pathLength }),
    ...(options.keyIdentifiers === undefined ? {} : { keyIdentifiers: options.keyIdentifiers }),
  };
}

function defaultEncoding(key: KeyObject): KeyEncoding {
  // cert-manager writes PKCS#1 for RSA by default and SEC1 for ECDSA; Ed25519 has only PKCS#8.
  if (key.asymmetricKeyType === 'rsa') return 'pkcs1';
  if (key.asymmetricKeyType === 'ec') return 'sec1';
  return 'pkcs8';
}
