/**
 * SR templates (PS3.16), one class per template, named after it as dcmjs src/sr/templates.js does. Each produces
 * content items; {@link ImagingMeasurementReport} is the root of TID 1500 and {@link KeyObjectSelectionDocument}
 * the root of TID 2010.
 */
import type { Code } from '../../inference/types';
import { DCM, LT, OTHER, SCT } from '../codes';
import {
  CodeContentItem,
  ContainerContentItem,
  type ContentItem,
  ImageContentItem,
  type InstanceRef,
  NumContentItem,
  ScoordContentItem,
  TextContentItem,
  UidRefContentItem,
} from './content';

/** TID 1204 Language of Content Item and Descendants. */
export class LanguageOfContentItemAndDescendants {
  /** The HAS CONCEPT MOD item for US English. */
  static items(): ContentItem[] {
    return [new CodeContentItem(DCM.LanguageOfContent, OTHER.EnglishUs, 'HAS CONCEPT MOD')];
  }
}

/** What identifies our device as the observer (TID 1004 Device Observer Identifying Attributes). */
export interface DeviceIdentity {
  uid: string;
  name: string;
  manufacturer: string;
  modelName: string;
  softwareVersion: string;
}

/** TID 1002 Observer Context with TID 1004: the observer is a device (the AI), not a person. */
export class DeviceObserverContext {
  /** The HAS OBS CONTEXT items. */
  static items(device: DeviceIdentity): ContentItem[] {
    return [
      new CodeContentItem(DCM.ObserverType, DCM.Device, 'HAS OBS CONTEXT'),
      new UidRefContentItem(DCM.DeviceObserverUid, device.uid, 'HAS OBS CONTEXT'),
      new TextContentItem(DCM.DeviceObserverName, device.name, 'HAS OBS CONTEXT'),
      new TextContentItem(DCM.DeviceObserverManufacturer, device.manufacturer, 'HAS OBS CONTEXT'),
      new TextContentItem(DCM.DeviceObserverModelName, device.modelName, 'HAS OBS CONTEXT'),
    ];
  }
}

/** TID 4019 Algorithm Identification. */
export class AlgorithmIdentification {
  constructor(
    readonly name: string,
    readonly version: string,
    readonly parameters: string[] = [],
  ) {}
  /** The items, with the relationship the including template asks for. */
  items(relationship: 'HAS CONCEPT MOD' | 'CONTAINS' = 'HAS CONCEPT MOD'): ContentItem[] {
    return [
      new TextContentItem(DCM.AlgorithmName, this.name.slice(0, 1024), relationship),
      new TextContentItem(DCM.AlgorithmVersion, this.version.slice(0, 1024), relationship),
      ...this.parameters.map((p) => new TextContentItem(DCM.AlgorithmParameters, p.slice(0, 1024), relationship)),
    ];
  }
}

/**
 * TID 1600 Image Library: one group with the images the report refers to. TID 1500 always has the library (DCMTK's
 * TID 1500 isValid() requires it); with no image to list it is an empty container rather than an empty group.
 */
export class ImageLibrary {
  constructor(readonly images: InstanceRef[]) {}
  /** The Image Library container. */
  item(): ContentItem {
    const library = new ContainerContentItem(DCM.ImageLibrary);
    if (this.images.length === 0) return library;
    const group = new ContainerContentItem(DCM.ImageLibraryGroup);
    for (const ref of this.images) group.add(new ImageContentItem(null, ref));
    return library.add(group);
  }
}

/** A probability with a qualifying concept (NUM "Probability", units "no units"). */
export function probability(p: number, relationship: 'CONTAINS' | 'HAS PROPERTIES' = 'HAS PROPERTIES', of?: Code): ContentItem {
  const num = new NumContentItem(
    LT.Probability,
    Math.min(1, Math.max(0, p)),
    OTHER.NoUnits,
    relationship,
  );
  if (of) num.add(new CodeContentItem(DCM.Finding, of, 'HAS CONCEPT MOD'));
  return num;
}

/** Finding Site (363698007, SCT) as TID 1501/1410 and TID 1419 include it: a HAS CONCEPT MOD of its finding or measurement. */
export function findingSite(site: Code): ContentItem {
  return new CodeContentItem(SCT.FindingSite, site, 'HAS CONCEPT MOD');
}

/** One key slice's findings for {@link MeasurementGroup}. */
export interface MeasurementGroupOptions {
  trackingIdentifier: string;
  trackingUid: string;
  finding: Code;
  findingSite?: Code;
  algorithm: AlgorithmIdentification;
  /** Named NUMs (probabilities etc.) in the group, each optionally qualified by a finding code. */
  measurements: { name: Code; value: number; units: Code; qualifier?: Code }[];
  /** Closed polyline around the region, as column,row pairs, on the source image. */
  region?: { points: number[]; source: InstanceRef };
  /** Image the group is about when no region is given, plus any derived image (the heat map). */
  images?: { name: Code; ref: InstanceRef }[];
  /** Free-text statements of the group (TEXT Comment), e.g. why there is no result. */
  comments?: string[];
}

/**
 * TID 1410-style Planar ROI Measurements and Qualitative Evaluations group (as OHIF and dcmjs read TID 1500):
 * tracking identifier and UID (always set: OHIF dereferences the UID), finding, finding site, algorithm,
 * measurements, and the image region (SCOORD, SELECTED FROM the source image).
 */
export class MeasurementGroup {
  constructor(readonly options: MeasurementGroupOptions) {}
  /** The Measurement Group container. */
  item(): ContentItem {
    const o = this.options;
    const group = new ContainerContentItem(DCM.MeasurementGroup).add(
      new TextContentItem(DCM.TrackingIdentifier, o.trackingIdentifier, 'HAS OBS CONTEXT'),
      new UidRefContentItem(DCM.TrackingUniqueIdentifier, o.trackingUid, 'HAS OBS CONTEXT'),
      new CodeContentItem(DCM.Finding, o.finding),
      o.findingSite && findingSite(o.findingSite),
      ...o.algorithm.items('HAS CONCEPT MOD'),
    );
    for (const m of o.measurements) {
      const num = new NumContentItem(m.name, m.value, m.units);
      if (m.qualifier) num.add(new CodeContentItem(DCM.Finding, m.qualifier, 'HAS CONCEPT MOD'));
      // Inferred from the group's region (TID 300 style): OHIF's measurement tracking (cornerstone adapters) takes a
      // group's region from its first NUM, and loads nothing from a group whose NUMs have none.
      if (o.region) num.add(new ScoordContentItem(DCM.ImageRegion, 'POLYLINE', o.region.points, o.region.source, 'INFERRED FROM'));
      group.add(num);
    }
    for (const c of o.comments ?? []) group.add(new TextContentItem(DCM.Comment, c.slice(0, 1024)));
    if (o.region) group.add(new ScoordContentItem(DCM.ImageRegion, 'POLYLINE', o.region.points, o.region.source));
    for (const img of o.images ?? []) group.add(new ImageContentItem(img.name, img.ref));
    return group;
  }
}

/** One region's group for {@link VolumetricRoiMeasurements}. */
export interface VolumetricGroupOptions {
  trackingIdentifier: string;
  trackingUid: string;
  finding: Code;
  /** Where in the segment the measurements apply (both lungs, a lung, a zone). */
  findingSite: Code;
  algorithm: AlgorithmIdentification;
  /** The SEG instance (with its segment number) and the series it was made from. */
  segment: InstanceRef & { segmentNumber: number };
  sourceSeriesUid: string;
  measurements: { name: Code; value: number; units: Code }[];
}

/**
 * TID 1411 Volumetric ROI Measurements and Qualitative Evaluations: a Measurement Group about a segment of a DICOM
 * SEG (Referenced Segment, Source series for segmentation), its finding and site, algorithm, and NUM measurements.
 */
export class VolumetricRoiMeasurements {
  constructor(readonly options: VolumetricGroupOptions) {}
  /** The Measurement Group container. */
  item(): ContentItem {
    const o = this.options;
    return new ContainerContentItem(DCM.MeasurementGroup, 'CONTAINS', '1411').add(
      new TextContentItem(DCM.TrackingIdentifier, o.trackingIdentifier, 'HAS OBS CONTEXT'),
      new UidRefContentItem(DCM.TrackingUniqueIdentifier, o.trackingUid, 'HAS OBS CONTEXT'),
      new CodeContentItem(DCM.Finding, o.finding),
      findingSite(o.findingSite),
      ...o.algorithm.items('HAS CONCEPT MOD'),
      new ImageContentItem(DCM.ReferencedSegment, o.segment),
      new UidRefContentItem(DCM.SourceSeriesForSegmentation, o.sourceSeriesUid),
      ...o.measurements.map((m) => new NumContentItem(m.name, m.value, m.units)),
    );
  }
}

/** TID 1500 Imaging Measurement Report: the root container and its fixed head. */
export class ImagingMeasurementReport {
  constructor(
    readonly options: {
      procedure: Code;
      device: DeviceIdentity;
      imageLibrary: ImageLibrary;
      measurementGroups: (MeasurementGroup | VolumetricRoiMeasurements)[];
      qualitativeEvaluations: ContentItem[];
    },
  ) {}
  /** The root CONTAINER (rendered with toDataset(true)). */
  root(): ContainerContentItem {
    const o = this.options;
    const root = new ContainerContentItem(DCM.ImagingMeasurementReport, 'CONTAINS', '1500').add(
      ...LanguageOfContentItemAndDescendants.items(),
      ...DeviceObserverContext.items(o.device),
      new CodeContentItem(DCM.ProcedureReported, o.procedure, 'HAS CONCEPT MOD'),
      o.imageLibrary.item(),
    );
    if (o.measurementGroups.length) root.add(new ContainerContentItem(DCM.ImagingMeasurements).add(...o.measurementGroups.map((g) => g.item())));
    if (o.qualitativeEvaluations.length) root.add(new ContainerContentItem(OTHER.UmlsQualitativeEvaluations).add(...o.qualitativeEvaluations));
    return root;
  }
}

/** TID 2010 Key Object Selection: document title, description, the selected images. */
export class KeyObjectSelectionDocument {
  constructor(
    readonly options: { title: Code; description: string; device: DeviceIdentity; images: InstanceRef[] },
  ) {}
  /** The root CONTAINER. */
  root(): ContainerContentItem {
    const root = new ContainerContentItem(this.options.title, 'CONTAINS', '2010').add(
      ...LanguageOfContentItemAndDescendants.items(),
      ...DeviceObserverContext.items(this.options.device),
      new TextContentItem(DCM.KeyObjectDescription, this.options.description),
    );
    for (const ref of this.options.images) root.add(new ImageContentItem(null, ref));
    return root;
  }
}
