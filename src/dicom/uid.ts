import { createHash, randomUUID } from 'node:crypto';

/** UID root for objects lung-triage creates: the 2.25 (UUID-derived) arc of PS3.5 B.2, so no registration is needed. */
export const UID_ROOT = '2.25';

/** A Unique Identifier as PS3.5 9.1 defines it: at most 64 chars, numeric components, no leading zeros. */
export function isValidUid(uid: unknown): uid is string {
  return typeof uid === 'string' && uid.length > 0 && uid.length <= 64 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/.test(uid);
}

/** A new random UID (2.25 + a random UUID as a decimal integer). */
export function newUid(): string {
  return `${UID_ROOT}.${BigInt('0x' + randomUUID().replace(/-/g, '')).toString()}`;
}

/** A UID derived deterministically from its inputs, so a retry re-creates the same object (PS3.5 B.2 form). */
export function derivedUid(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  // 128 bits of the digest, as a UUID-sized integer, keeps the UID within 64 characters.
  return `${UID_ROOT}.${BigInt('0x' + digest.subarray(0, 16).toString('hex')).toString()}`;
}
