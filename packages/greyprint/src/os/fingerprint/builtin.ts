import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseSignatureFile, type SignatureDatabase } from './fp-file.js';

/**
 * greyprint's own signature set, shipped in the package (signatures/greyprint.fp).
 * This module sits three folders below the package root both as source
 * (src/os/fingerprint) and as build output (dist/os/fingerprint).
 */
export const BUILTIN_SIGNATURES = fileURLToPath(new URL('../../../signatures/greyprint.fp', import.meta.url));

/** Reads a `.fp` file; throws SignatureFileError (file:line) or the fs error. */
export function loadSignatureFile(path: string): SignatureDatabase {
  return parseSignatureFile(readFileSync(path, 'utf8'), path);
}

let builtin: SignatureDatabase | undefined;

export function builtinSignatures(): SignatureDatabase {
  builtin ??= loadSignatureFile(BUILTIN_SIGNATURES);
  return builtin;
}
