// Original file: proto/lungtriage/inference/v1/inference.proto


/**
 * The volume evidence behind a models-2.0 decision.
 */
export interface InfectionResult {
  /**
   * "present", "indeterminate" or "absent".
   */
  'decision'?: (string);
  /**
   * Infected share of the lung, 0..1.
   */
  'fraction'?: (number | string);
  'infectedMl'?: (number | string);
  'lungMl'?: (number | string);
  'urgentFraction'?: (number | string);
}

/**
 * The volume evidence behind a models-2.0 decision.
 */
export interface InfectionResult__Output {
  /**
   * "present", "indeterminate" or "absent".
   */
  'decision': (string);
  /**
   * Infected share of the lung, 0..1.
   */
  'fraction': (number);
  'infectedMl': (number);
  'lungMl': (number);
  'urgentFraction': (number);
}
