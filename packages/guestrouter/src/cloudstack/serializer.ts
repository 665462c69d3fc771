/**
 * Writes CloudStack's JSON answers: the other half of parser.ts. The test
 * simulator answers with these, and the parser tests round-trip them.
 */
import { responseKeyFor } from './parser.js';

/**
 * One page of a list command. CloudStack sends `{"<cmd>response":{}}` with
 * no `count` and no item key when nothing matches; `count` is the total over
 * all pages, not the length of this page.
 */
export function serializeListResponse(
  command: string,
  itemKey: string,
  page: readonly unknown[],
  total: number,
): string {
  const key = responseKeyFor(command);
  if (total === 0) return JSON.stringify({ [key]: {} });
  return JSON.stringify({ [key]: { count: total, [itemKey]: page } });
}

/**
 * A failed call as CloudStack reports it. `responseKey` is the command's key
 * when the command is known, otherwise `errorresponse`.
 */
export function serializeErrorResponse(
  responseKey: string,
  errorcode: number,
  errortext: string,
  cserrorcode?: number,
): string {
  const body: Record<string, unknown> = { uuidList: [], errorcode };
  if (cserrorcode !== undefined) body.cserrorcode = cserrorcode;
  body.errortext = errortext;
  return JSON.stringify({ [responseKey]: body });
}
