/** Builds a multipart/related body the way STOW-RS clients do (PS3.18 10.5.1.1). */
export function multipartBody(parts: Buffer[], boundary = 'lt-test-boundary-7d3f', partType = 'application/dicom'): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${partType}\r\n\r\n`, 'latin1'), p, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--`, 'latin1'));
  return Buffer.concat(chunks);
}

/** The Content-Type header for {@link multipartBody}. */
export function multipartType(boundary = 'lt-test-boundary-7d3f'): string {
  return `multipart/related; type="application/dicom"; boundary=${boundary}`;
}

/** POSTs a STOW-RS request and returns status and parsed DICOM JSON body. */
export async function postStow(
  url: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, { vr: string; Value?: Record<string, { Value?: unknown[] }>[] }>; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': multipartType(), ...headers }, body });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json, headers: res.headers };
}

/** Items of a sequence in a STOW response, e.g. '00081199' (ReferencedSOPSequence). */
export function seqItems(json: Record<string, { Value?: unknown[] }>, tag: string): Record<string, { Value?: unknown[] }>[] {
  return (json[tag]?.Value ?? []) as Record<string, { Value?: unknown[] }>[];
}
