/** A coded concept as a (value, scheme, meaning) triple (PS3.3 8.8 Code Sequence Macro). */
export interface Code {
  value: string;
  scheme: string;
  meaning: string;
}
