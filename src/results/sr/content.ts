/**
 * SR content items (PS3.3 C.17.3 SR Document Content Module, value types of Table C.17.3-7), modelled on
 * dcmjs src/sr/valueTypes.js: each class renders itself to a dcmjs naturalized content-sequence item.
 */
import type { Code } from '../../inference/types';
import type { NaturalDataset } from '../../dicom/dcmjs';

/** Relationship types (PS3.3 C.17.3.2.4). */
export type RelationshipType =
  | 'CONTAINS'
  | 'HAS PROPERTIES'
  | 'HAS OBS CONTEXT'
  | 'HAS ACQ CONTEXT'
  | 'HAS CONCEPT MOD'
  | 'INFERRED FROM'
  | 'SELECTED FROM';

/** A coded concept (Code Sequence Macro, PS3.3 Table 8.8-1). */
export class CodedConcept {
  constructor(readonly code: Code) {
    if (!code.value || !code.scheme || !code.meaning) throw new Error(`incomplete code ${JSON.stringify(code)}`);
    if (code.value.length > 16) throw new Error(`code value longer than 16 characters: ${code.value}`);
  }
  /** One item of a Code Sequence. */
  toItem(): NaturalDataset {
    return { CodeValue: this.code.value, CodingSchemeDesignator: this.code.scheme, CodeMeaning: this.code.meaning.slice(0, 64) };
  }
}

/** A reference to a composite instance (and frame). */
export interface InstanceRef {
  sopClassUid: string;
  sopInstanceUid: string;
  frameNumber?: number;
  /** For a reference to a segment of a Segmentation (Referenced Segment Number, 0062,000B). */
  segmentNumber?: number;
}

/** Formats a number as a DICOM DS value (at most 16 characters, PS3.5 6.2). */
export function decimalString(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`not a finite number: ${n}`);
  for (let p = 10; p >= 1; p--) {
    const s = String(Number(n.toPrecision(p)));
    if (s.length <= 16) return s;
  }
  return n.toExponential(6);
}

/** Base class: a named content item with optional children. */
export abstract class ContentItem {
  readonly children: ContentItem[] = [];
  constructor(
    readonly valueType: string,
    /** Null for by-value items that carry no concept name (IMAGE entries of a library or a KOS, SELECTED FROM). */
    readonly name: Code | null,
    public relationship: RelationshipType = 'CONTAINS',
  ) {}

  /** Appends children and returns this, for building trees inline. */
  add(...items: (ContentItem | undefined | false)[]): this {
    for (const i of items) if (i) this.children.push(i);
    return this;
  }

  protected abstract value(): NaturalDataset;

  /** The naturalized content item. The root item has no RelationshipType. */
  toDataset(root = false): NaturalDataset {
    const item: NaturalDataset = {
      ...(root ? {} : { RelationshipType: this.relationship }),
      ValueType: this.valueType,
      ...(this.name ? { ConceptNameCodeSequence: [new CodedConcept(this.name).toItem()] } : {}),
      ...this.value(),
    };
    if (this.children.length) item.ContentSequence = this.children.map((c) => c.toDataset());
    return item;
  }
}

/** CONTAINER (C.17.3.2.3). */
export class ContainerContentItem extends ContentItem {
  constructor(name: Code, relationship: RelationshipType = 'CONTAINS', readonly templateId?: string) {
    super('CONTAINER', name, relationship);
  }
  protected value(): NaturalDataset {
    return {
      ContinuityOfContent: 'SEPARATE',
      ...(this.templateId ? { ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: this.templateId }] } : {}),
    };
  }
}

/** TEXT: at most 1024 characters per the UT-valued Text Value (kept short and ASCII here). */
export class TextContentItem extends ContentItem {
  constructor(name: Code, readonly text: string, relationship: RelationshipType = 'CONTAINS') {
    super('TEXT', name, relationship);
  }
  protected value(): NaturalDataset {
    return { TextValue: this.text };
  }
}

/** CODE. */
export class CodeContentItem extends ContentItem {
  constructor(name: Code, readonly code: Code, relationship: RelationshipType = 'CONTAINS') {
    super('CODE', name, relationship);
  }
  protected value(): NaturalDataset {
    return { ConceptCodeSequence: [new CodedConcept(this.code).toItem()] };
  }
}

/** NUM with its units (Measured Value Sequence, Table C.18.1-1). */
export class NumContentItem extends ContentItem {
  constructor(name: Code, readonly num: number, readonly units: Code, relationship: RelationshipType = 'CONTAINS') {
    super('NUM', name, relationship);
  }
  protected value(): NaturalDataset {
    return { MeasuredValueSequence: [{ NumericValue: decimalString(this.num), MeasurementUnitsCodeSequence: [new CodedConcept(this.units).toItem()] }] };
  }
}

/** UIDREF. */
export class UidRefContentItem extends ContentItem {
  constructor(name: Code, readonly uid: string, relationship: RelationshipType = 'CONTAINS') {
    super('UIDREF', name, relationship);
  }
  protected value(): NaturalDataset {
    return { UID: this.uid };
  }
}

/** IMAGE: a reference to an image (and frame). */
export class ImageContentItem extends ContentItem {
  constructor(name: Code | null, readonly ref: InstanceRef, relationship: RelationshipType = 'CONTAINS') {
    super('IMAGE', name, relationship);
  }
  protected value(): NaturalDataset {
    return { ReferencedSOPSequence: [referencedSop(this.ref)] };
  }
}

/** SCOORD: a 2D region in image pixel coordinates (column, row), with the image it was selected from. */
export class ScoordContentItem extends ContentItem {
  constructor(
    name: Code,
    readonly graphicType: 'POINT' | 'POLYLINE' | 'CIRCLE' | 'ELLIPSE' | 'POLYGON',
    readonly points: number[],
    source: InstanceRef,
    relationship: RelationshipType = 'CONTAINS',
  ) {
    super('SCOORD', name, relationship);
    this.add(new ImageContentItem(null, source, 'SELECTED FROM'));
  }
  protected value(): NaturalDataset {
    return { GraphicType: this.graphicType, GraphicData: this.points.map((v) => Math.fround(v)) };
  }
}

/** One Referenced SOP Sequence item. */
export function referencedSop(ref: InstanceRef): NaturalDataset {
  return {
    ReferencedSOPClassUID: ref.sopClassUid,
    ReferencedSOPInstanceUID: ref.sopInstanceUid,
    ...(ref.frameNumber ? { ReferencedFrameNumber: ref.frameNumber } : {}),
    ...(ref.segmentNumber ? { ReferencedSegmentNumber: ref.segmentNumber } : {}),
  };
}

/** Hierarchical SOP Instance Reference Macro items (Table C.17-3) for one study, grouping instances by series. */
export function evidenceSequence(studyUid: string, series: { seriesUid: string; refs: InstanceRef[] }[]): NaturalDataset[] {
  const nonEmpty = series.filter((s) => s.refs.length > 0);
  if (nonEmpty.length === 0) return [];
  return [
    {
      StudyInstanceUID: studyUid,
      ReferencedSeriesSequence: nonEmpty.map((s) => ({
        SeriesInstanceUID: s.seriesUid,
        ReferencedSOPSequence: dedupe(s.refs).map((r) => ({ ReferencedSOPClassUID: r.sopClassUid, ReferencedSOPInstanceUID: r.sopInstanceUid })),
      })),
    },
  ];
}

function dedupe(refs: InstanceRef[]): InstanceRef[] {
  const seen = new Set<string>();
  return refs.filter((r) => !seen.has(r.sopInstanceUid) && seen.add(r.sopInstanceUid));
}
