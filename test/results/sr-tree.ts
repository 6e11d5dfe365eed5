import type { NaturalDataset } from '../../src/dicom/dcmjs';

/** Every code in an SR content tree as "value|scheme|meaning", depth first (concept names and values). */
export function codeTriples(dataset: NaturalDataset): string[] {
  const out: string[] = [];
  const code = (c: unknown) => {
    const item = (Array.isArray(c) ? c[0] : c) as NaturalDataset | undefined;
    if (item) out.push(`${String(item.CodeValue)}|${String(item.CodingSchemeDesignator)}|${String(item.CodeMeaning)}`);
  };
  const walk = (n: NaturalDataset) => {
    code(n.ConceptNameCodeSequence);
    code(n.ConceptCodeSequence);
    const mv = (Array.isArray(n.MeasuredValueSequence) ? n.MeasuredValueSequence[0] : n.MeasuredValueSequence) as NaturalDataset | undefined;
    if (mv) code(mv.MeasurementUnitsCodeSequence);
    const kids = n.ContentSequence;
    for (const k of (Array.isArray(kids) ? kids : kids ? [kids] : []) as NaturalDataset[]) walk(k);
  };
  walk(dataset);
  return out;
}

/** Content items (depth first) whose concept name has this code value. */
export function findItems(dataset: NaturalDataset, codeValue: string): NaturalDataset[] {
  const out: NaturalDataset[] = [];
  const walk = (n: NaturalDataset) => {
    const cn = (Array.isArray(n.ConceptNameCodeSequence) ? n.ConceptNameCodeSequence[0] : n.ConceptNameCodeSequence) as NaturalDataset | undefined;
    if (cn?.CodeValue === codeValue) out.push(n);
    const kids = n.ContentSequence;
    for (const k of (Array.isArray(kids) ? kids : kids ? [kids] : []) as NaturalDataset[]) walk(k);
  };
  walk(dataset);
  return out;
}

/** The first item of a sequence attribute (dcmjs gives arrays, or a bare object for one item). */
export function first(v: unknown): NaturalDataset {
  return (Array.isArray(v) ? v[0] : v) as NaturalDataset;
}
