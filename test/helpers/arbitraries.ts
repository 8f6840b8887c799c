// What the fast-check property tests (test/unit/properties-*.test.ts) share: fixed seeds, records
// as decoders build them, the "value or the codec's own error" check, and the byte and string
// arbitraries the wire formats are made of.

import fc from 'fast-check';

/** Every property runs from a fixed seed: a failure is reproduced by running the file again. */
export const runs = (seed: number, numRuns = 300): fc.Parameters<unknown> => ({ seed, numRuns });

/** Records with an ordinary prototype, as the decoders build them (deepEqual compares prototypes). */
export const rec = <T,>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(model, { noNullPrototype: true });

/** Calls `decode`; returns its value, or null when it threw `errorType` (anything else fails the property). */
export function decodeOrNull<T>(errorType: new (...a: never[]) => Error, decode: () => T): T | null {
  try {
    return decode();
  } catch (err) {
    if (err instanceof errorType) return null;
    throw err;
  }
}

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const bytes = (maxLength: number, minLength = 0): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength, maxLength }).map((b) => Buffer.from(b));
export const nullable = <T,>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { nil: null });
