/**
 * pgvector values as query parameters. Text makes the server parse every float, which PGlite's
 * WebAssembly build does slowly (about 0.6 ms for 1536 dimensions); `pg` sends a Buffer
 * parameter in binary, which pgvector reads as float4 as-is. PGlite in-process only takes text.
 */

/** pgvector's text form: `[0.1,0.2,…]`. */
export function vectorText(vector: number[]): string {
  return `[${vector.join(',')}]`;
}

/** pgvector's binary form (vector_recv): int16 dimensions, int16 unused, float4 values, big-endian. */
export function vectorBinary(vector: number[]): Buffer {
  const out = Buffer.alloc(4 + 4 * vector.length);
  let at = out.writeInt16BE(vector.length, 0);
  at = out.writeInt16BE(0, at);
  for (const x of vector) at = out.writeFloatBE(x, at);
  return out;
}
