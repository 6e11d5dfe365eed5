import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

/** Compares secrets in constant time (both sides hashed first, so length differences leak nothing). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** True when the call's "authorization: Bearer" metadata carries the token. */
export function carriesToken(md: grpc.Metadata, token: string): boolean {
  const header = String(md.get('authorization')[0] ?? '');
  return header.toLowerCase().startsWith('bearer ') && safeEqual(header.slice(7).trim(), token);
}

/** A client interceptor that sends the token as "authorization: Bearer" on every call. */
export function tokenInterceptor(token: string): grpc.Interceptor {
  return (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start(metadata, listener, start) {
        metadata.set('authorization', `Bearer ${token}`);
        start(metadata, listener);
      },
    });
}
