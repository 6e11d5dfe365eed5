import { chestPhantom, phantomSeries, type SeriesOptions, type WrittenInstance } from '../../src/synthetic/phantom';

/**
 * A phantom series whose Patient Name is the given bytes in the given Specific Character Set (0008,0005): written with
 * an ASCII placeholder of the same length, then the placeholder's bytes replaced, so the element stays well formed.
 */
export function seriesWithName(charset: string[], name: Buffer, opts: SeriesOptions & { slices?: number; size?: number } = {}): WrittenInstance[] {
  const placeholder = 'Q'.repeat(name.length);
  const slices = phantomSeries(chestPhantom({ size: opts.size ?? 32, slices: opts.slices ?? 1 }), {
    ...opts,
    patientName: placeholder,
    extra: { ...opts.extra, SpecificCharacterSet: charset.length === 1 ? charset[0] : charset },
  });
  for (const s of slices) {
    const at = s.bytes.indexOf(Buffer.from(placeholder, 'latin1'));
    if (at < 0) throw new Error('placeholder not found');
    name.copy(s.bytes, at);
  }
  return slices;
}

/** PS3.5 H.3.1: "Yamada^Tarou=山田^太郎=やまだ^たろう" in ISO 2022 IR 87 (JIS X 0208 behind ESC $ B, back to ASCII with ESC ( B). */
export const JAPANESE_NAME = Buffer.from(
  'Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B',
  'latin1',
);
export const JAPANESE_NAME_TEXT = 'Yamada^Tarou=山田^太郎=やまだ^たろう';

/** "Wang^XiaoDong=王^小东" in GB18030 (PS3.5 J.3 style: the ideographic group in Chinese characters). */
export const CHINESE_NAME_TEXT = 'Wang^XiaoDong=王^小东';
export const CHINESE_NAME = Buffer.concat([Buffer.from('Wang^XiaoDong=', 'latin1'), Buffer.from('cdf55ed0a1b6ab', 'hex')]);
