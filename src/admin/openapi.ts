import { readFileSync } from 'node:fs';
import { adminOpenApiPath } from '../shared/paths.js';

let document: unknown;

/** The admin API's OpenAPI 3.1 document (src/admin/openapi.json), read once. */
export function openApiDocument(): unknown {
  document ??= JSON.parse(readFileSync(adminOpenApiPath, 'utf8'));
  return document;
}
