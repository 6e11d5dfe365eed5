import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Runs dciodvfy (dicom3tools) on a Part 10 buffer: its Error lines, Warning lines and exit status. */
export function dciodvfy(bytes: Buffer): { errors: string[]; warnings: string[]; status: number | null; output: string } {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'lt-dciodvfy-')), 'obj.dcm');
  writeFileSync(file, bytes);
  const r = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  const output = `${r.stdout}${r.stderr}`;
  const lines = output.split('\n');
  return { errors: lines.filter((l) => /^Error/.test(l)), warnings: lines.filter((l) => /^Warning/.test(l)), status: r.status, output };
}

/** Runs dsrdump (dcmtk) on an SR: exit status and output (the rendered tree, or what is wrong with it). */
export function dsrdump(bytes: Buffer, args: string[] = ['+Pc', '+Pl']): { status: number | null; output: string } {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'lt-dsrdump-')), 'sr.dcm');
  writeFileSync(file, bytes);
  const r = spawnSync('dsrdump', [...args, file], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
