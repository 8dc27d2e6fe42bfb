/**
 * The web platform's defences that are configuration rather than business rules: login limits
 * (services/login-guard.ts), HTTPS served directly from a PEM certificate and key, and the
 * security headers (helmet) with a Content-Security-Policy that lets in only the platform's own
 * scripts, plus inline scripts carrying the page's nonce.
 */
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { loginLimits, type LoginLimits } from './services/login-guard';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface SecurityConfig {
  login: LoginLimits;
  /** HTTPS when set (TLS_CERT_FILE and TLS_KEY_FILE); plain HTTP otherwise. */
  tls?: TlsFiles;
}

export function securityConfig(env: NodeJS.ProcessEnv): SecurityConfig {
  const certFile = env.TLS_CERT_FILE?.trim();
  const keyFile = env.TLS_KEY_FILE?.trim();
  if (!certFile !== !keyFile) throw new Error(`TLS_CERT_FILE and TLS_KEY_FILE go together: set both (PEM files) or neither, not only ${certFile ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE'}`);
  return { login: loginLimits(env), tls: certFile && keyFile ? { certFile, keyFile } : undefined };
}

/** The certificate (chain) and key as https.createServer takes them, checked to be PEM and to belong together. */
export function readTls({ certFile, keyFile }: TlsFiles): { cert: Buffer; key: Buffer } {
  const read = (name: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${name}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const cert = read('TLS_CERT_FILE', certFile);
  const key = read('TLS_KEY_FILE', keyFile);
  let certificate: crypto.X509Certificate;
  let privateKey: crypto.KeyObject;
  try {
    certificate = new crypto.X509Certificate(cert);
  } catch (err) {
    throw new Error(`TLS_CERT_FILE: ${certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
  try {
    privateKey = crypto.createPrivateKey(key);
  } catch (err) {
    throw new Error(`TLS_KEY_FILE: ${keyFile} is not a PEM private key (unencrypted): ${(err as Error).message}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) throw new Error(`TLS_KEY_FILE: ${keyFile} is not the private key of the certificate in ${certFile}`);
  return { cert, key };
}

/**
 * Security headers on every answer. The policy: scripts from the platform itself or inline with this answer's nonce
 * (`script(nonce=cspNonce)` in a template; no inline event handlers), styles from the platform plus style attributes
 * (progress bars and the path pictures are sized by them), images from the platform and data: URLs (Bootstrap's
 * icons), no framing, forms posted only to the platform. Over HTTPS (direct, or a proxy on this machine saying so)
 * also Strict-Transport-Security and upgrade-insecure-requests; over plain HTTP neither, which would break a
 * platform reached by http://.
 */
export function securityHeaders(): RequestHandler[] {
  const csp = (secure: boolean) =>
    helmet.contentSecurityPolicy({
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        connectSrc: ["'self'"],
        fontSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        imgSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        scriptSrc: ["'self'", (_req, res) => `'nonce-${(res as Response).locals.cspNonce as string}'`],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
        styleSrcAttr: ["'unsafe-inline'"],
        ...(secure ? { upgradeInsecureRequests: [] } : {}),
      },
    });
  const cspSecure = csp(true);
  const cspPlain = csp(false);
  const hsts = helmet.strictTransportSecurity({ maxAge: 365 * 24 * 3600, includeSubDomains: false });
  const others = helmet({ contentSecurityPolicy: false, strictTransportSecurity: false, xFrameOptions: { action: 'deny' } });
  return [
    (req: Request, res: Response, next: NextFunction) => {
      res.locals.cspNonce = crypto.randomBytes(16).toString('base64');
      next();
    },
    others,
    (req: Request, res: Response, next: NextFunction) => (req.secure ? cspSecure : cspPlain)(req, res, next),
    (req: Request, res: Response, next: NextFunction) => (req.secure ? hsts(req, res, next) : next()),
  ];
}
