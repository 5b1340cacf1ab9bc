// RFC 6238 TOTP (HMAC-SHA1, 30-second step) on RFC 4226 HOTP, with RFC 4648 base32.

import { createHmac } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes RFC 4648 base32; case-insensitive, ignores spaces, hyphens and '=' padding. */
export function base32Decode(text) {
  const clean = String(text).toUpperCase().replace(/[\s=-]/g, '');
  const out = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const idx = ALPHABET.indexOf(ch);
    if (idx === -1) throw new Error(`invalid base32 character ${JSON.stringify(ch)}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** Encodes bytes as RFC 4648 base32 without padding. */
export function base32Encode(bytes) {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of Buffer.from(bytes)) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(value >>> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** RFC 4226 HOTP over a raw key. */
export function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 TOTP: the code for `unixSeconds` (default: now) from a base32 secret. */
export function totp(base32Secret, unixSeconds = Math.floor(Date.now() / 1000), digits = 6) {
  return hotp(base32Decode(base32Secret), Math.floor(unixSeconds / 30), digits);
}

/** The `secret` parameter of an otpauth://totp/ URI (throws if absent). */
export function otpauthSecret(uri) {
  const url = new URL(uri);
  if (url.protocol !== 'otpauth:') throw new Error(`not an otpauth URI: ${uri}`);
  const secret = url.searchParams.get('secret');
  if (!secret) throw new Error(`otpauth URI has no secret: ${uri}`);
  return secret;
}
