import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base32Decode, base32Encode, hotp, otpauthSecret, totp } from '../lib/totp.mjs';

// RFC 6238 Appendix B, SHA-1 rows; the seed is the ASCII string "12345678901234567890".
const SEED = Buffer.from('12345678901234567890', 'ascii');
const SEED_B32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const VECTORS = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

test('base32 round-trips the RFC 6238 seed', () => {
  assert.equal(base32Encode(SEED), SEED_B32);
  assert.deepEqual(base32Decode(SEED_B32), SEED);
  assert.deepEqual(base32Decode('gezd gnbv gy3t qojq gezd gnbv gy3t qojq'), SEED);
  assert.deepEqual(base32Decode('MZXW6==='), Buffer.from('foo'));
});

test('RFC 4226 Appendix D HOTP values', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314'];
  expected.forEach((code, counter) => assert.equal(hotp(SEED, counter), code));
});

test('RFC 6238 Appendix B SHA-1 vectors (8 digits)', () => {
  for (const [t, code] of VECTORS) {
    assert.equal(totp(SEED_B32, t, 8), code, `T=${t}`);
  }
});

test('6-digit codes are the last six digits; the 30 s step boundary', () => {
  assert.equal(totp(SEED_B32, 59), '287082');
  assert.equal(totp(SEED_B32, 59), totp(SEED_B32, 30));
  assert.notEqual(totp(SEED_B32, 59), totp(SEED_B32, 60));
});

test('otpauth URI secret extraction', () => {
  const uri = `otpauth://totp/Sealroom:cleo%40example.test?secret=${SEED_B32}&issuer=Sealroom`;
  assert.equal(otpauthSecret(uri), SEED_B32);
});
