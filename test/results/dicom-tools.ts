import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../support/temp-dir';

/** Runs dciodvfy (dicom3tools) on a Part 10 buffer: its Error lines, Warning lines and exit status. */
export function dciodvfy(bytes: Buffer): { errors: string[]; warnings: string[]; status: number | null; output: string } {
  const file = path.join(tempDir('dciodvfy'), 'obj.dcm');
  writeFileSync(file, bytes);
  const r = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  const output = `${r.stdout}${r.stderr}`;
  const lines = output.split('\n');
  return { errors: lines.filter((l) => /^Error/.test(l)), warnings: lines.filter((l) => /^Warning/.test(l)), status: r.status, output };
}

/** Runs dsrdump (dcmtk) on an SR: exit status and output (the rendered tree, or what is wrong with it). */
export function dsrdump(bytes: Buffer, args: string[] = ['+Pc', '+Pl']): { status: number | null; output: string } {
  const file = path.join(tempDir('dsrdump'), 'sr.dcm');
  writeFileSync(file, bytes);
  const r = spawnSync('dsrdump', [...args, file], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/**
 * Runs dcentvfy (dicom3tools) over a set of objects (the source CT and its results): its Warning/Error lines.
 * `known` lists the documented validator limitations left out (see README "Results").
 */
export function dcentvfy(objects: { name: string; bytes: Buffer }[], known: RegExp[] = []): string[] {
  const dir = tempDir('dcentvfy');
  const files = objects.map((o) => {
    const f = path.join(dir, `${o.name}.dcm`);
    writeFileSync(f, o.bytes);
    return f;
  });
  const r = spawnSync('dcentvfy', files, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`
    .split('\n')
    .filter((l) => /^(Error|Warning)/.test(l) && !known.some((k) => k.test(l)));
}

/** dcentvfy's one known false alarm: it files AccessionNumber under the Series IE for SR and KOS documents. */
export const DCENTVFY_SR_ACCESSION = /^Warning - Different information entities for attribute - Element=<AccessionNumber> IE <Series> versus <Study> for file .*<[^>]*\/(sr|kos)\.dcm>/;

/** Reads an object with pydicom (Debian's python3-pydicom) and runs `expr` on it as `d`; returns what it prints. */
export function pydicomEval(bytes: Buffer, expr: string): { status: number | null; output: string } {
  const file = path.join(tempDir('pydicom'), 'obj.dcm');
  writeFileSync(file, bytes);
  const r = spawnSync('/usr/bin/python3', ['-c', `import sys, pydicom\nd = pydicom.dcmread(sys.argv[1])\nprint(${expr})`, file], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * dciodvfy warnings that are the validator's, not the object's: Debian's dicom3tools predates Device UID (0018,1002)
 * in the Contributing Equipment Sequence (IHE AI Results asks for it), and then calls the object "Standard Extended".
 */
export const DCIODVFY_DEVICE_UID = [
  /^Warning - Attribute is not present in standard DICOM IOD - \(0x0018,0x1002\) UI Device UID\s*$/,
  /^Warning - Dicom dataset contains attributes not present in standard DICOM IOD - this is a Standard Extended SOP Class$/,
];
